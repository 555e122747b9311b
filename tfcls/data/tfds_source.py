"""TFDS data sets as a record source (``--data=tfds:cifar10``): the ``tensorflow-datasets``
extra (``pip install "tfcls[tfds]"``), data prepared beforehand (``tfds build``, or
``tfds.builder(name).download_and_prepare()``) into ``data_dir`` (TFDS's default when None).

Images are read still encoded (``SkipDecoding``) so that the training pipeline decodes only the
random crop of a JPEG; each input pipeline ``p`` of ``P`` reads ``tfds.even_splits(split, P)[p]``
(contiguous record ranges, which TFDS reads from the files holding them). Files are read in order;
``tfcls.data.record_pipeline`` shuffles per epoch.
"""
import tensorflow as tf

from tfcls.data.records import PipelineRecords


def import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ImportError("TFDS data sets need tensorflow-datasets: pip install "
                          "'tfcls[tfds]' (or pip install tensorflow-datasets).") from None
    return tfds


class TFDSSource:
    """A TFDS image-classification data set's ``split`` (its ``supervised_keys`` give the image
    and label features)."""

    def __init__(self, name, split="train", data_dir=None):
        tfds = import_tfds()
        self._tfds, self.name, self.split, self.data_dir = tfds, name, split, data_dir
        try:
            self.builder = tfds.builder(name, data_dir=data_dir)
        except tfds.core.registered.DatasetNotFoundError as err:
            raise ValueError(f"No TFDS data set {name!r}: {str(err).splitlines()[0]}") from None
        info = self.builder.info
        keys = info.supervised_keys
        if not keys or len(keys) != 2 or not hasattr(info.features[keys[1]], "num_classes"):
            raise ValueError(f"TFDS data set {name!r} has no (image, class label) supervised "
                             f"keys; tfcls trains image classifiers.")
        self.image_key, self.label_key = keys
        self.class_names = list(info.features[self.label_key].names)
        self.num_classes = info.features[self.label_key].num_classes
        self.num_examples = self._count(split)
        if self.num_examples == 0:
            raise ValueError(f"TFDS {name} split {split!r} is empty.")

    def describe(self):
        return f"TFDS {self.name} ({self.split})"

    def has_split(self, split):
        try:
            return self._count(split) > 0
        except ValueError:
            return False

    def _count(self, split):
        """Records of ``split`` (TFDS's split info; counted when it has none, as under
        ``tfds.testing.mock_data``)."""
        try:
            return int(self.builder.info.splits[split].num_examples)
        except KeyError:
            pass
        try:
            return int(self._read(split).reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
        except (AssertionError, tf.errors.OpError, ValueError) as err:
            where = self.data_dir or "TFDS's data dir"
            raise ValueError(f"TFDS {self.name} split {split!r} is not prepared in {where} "
                             f"({str(err).splitlines()[0][:200]}): run `tfds build {self.name} "
                             f"--data_dir=...` where it can download, or pass --tfds_data_dir.") \
                from None

    def _read(self, split):
        return self.builder.as_dataset(
            split=split, shuffle_files=False,
            decoders={self.image_key: self._tfds.decode.SkipDecoding()},
            read_config=self._tfds.ReadConfig(interleave_cycle_length=1,
                                              add_tfds_id=False))

    def _records(self, split):
        origin = tf.constant(f"{self.describe()}[{split}]")
        return self._read(split).map(
            lambda ex: ((ex[self.image_key], ex[self.label_key]), origin))

    @staticmethod
    def _decode(payload):
        data, label = payload
        return data, tf.cast(label, tf.int32)

    def _part(self, pipeline_id, num_pipelines):
        if num_pipelines == 1:
            return self.split
        return self._tfds.even_splits(self.split, n=num_pipelines)[pipeline_id]

    def pipeline_records(self, pipeline_id=0, num_pipelines=1):
        split = self._part(pipeline_id, num_pipelines)
        return PipelineRecords(self._count(split), lambda seed: self._records(split),
                               self._decode)

    def eval_records(self, pipeline_id=0, num_pipelines=1):
        return self._records(self._part(pipeline_id, num_pipelines)), self._decode
