"""From data flags to input pipelines: the built-in shapes data set, an image folder, TFRecord
shards (local or gs://) or a TFDS data set (``--data=tfds:<name>``)."""
import contextlib
import os

from launch.common import UserError, preprocessing_args
from tfcls import data


def load_files(data_dir, val_split, seed):
    """``(train_files, train_labels, val_files, val_labels, class_names, data_dir)`` of the data
    flags; ``data_dir`` is the one used (with none given, the built-in shapes data set, generated
    once into the cache dir)."""
    if data_dir is None:
        data_dir = data.make_shapes_dataset()
        print(f"No --data_dir: using the built-in shapes data set at {data_dir}", flush=True)
    if not 0.0 <= val_split < 1.0:
        raise UserError(f"--val_split must be in [0, 1), got {val_split}.")
    train_files, train_labels, val_files, val_labels, class_names, skipped = (
        data.load_image_folder(data_dir, val_split=val_split, seed=seed))
    if not train_files:
        raise UserError(f"No training images found under {data_dir}: put images (jpeg, png, "
                        f"bmp, gif) in one folder per class.")
    if skipped:
        print(f"warning: skipped {skipped} non-image or corrupt file(s) under {data_dir}",
              flush=True)
    return train_files, train_labels, val_files, val_labels, class_names, data_dir


def parse_threads(value):
    if value in (None, "autotune"):
        return value
    try:
        return int(value)
    except ValueError:
        raise UserError(f"--threads must be a number or 'autotune', got {value!r}.") from None


def augmentation_args(flags, num_classes):
    """The pipeline's colour jitter, RandAugment, random erasing and mixup/cutmix arguments from
    their flags, checked."""
    if not 0.0 <= flags.color_jitter <= 1.0:
        raise UserError(f"--color_jitter is a strength in [0, 1] (factors 1 +- x), got "
                        f"{flags.color_jitter}.")
    for name in ("random_erasing", "mixup_prob", "mixup_switch_prob"):
        if not 0.0 <= getattr(flags, name) <= 1.0:
            raise UserError(f"--{name} is a probability in [0, 1], got {getattr(flags, name)}.")
    for name in ("mixup", "cutmix"):
        if not getattr(flags, name) >= 0.0:
            raise UserError(f"--{name} is a Beta distribution's alpha, >= 0 (0 = off), got "
                            f"{getattr(flags, name)}.")
    if flags.randaugment_ops < 0 or not 0 <= flags.randaugment_magnitude <= 10 or not (
            flags.randaugment_mstd >= 0):
        raise UserError(f"RandAugment needs --randaugment_ops >= 0, --randaugment_magnitude in "
                        f"[0, 10] and --randaugment_mstd >= 0; got {flags.randaugment_ops}, "
                        f"{flags.randaugment_magnitude}, {flags.randaugment_mstd}.")
    rand_augment = ((flags.randaugment_ops, flags.randaugment_magnitude, flags.randaugment_mstd)
                    if flags.randaugment_ops else None)
    if rand_augment and flags.autoaugment:
        raise UserError("--autoaugment and --randaugment_ops both set: a recipe uses one of them.")
    return dict(color_jitter=flags.color_jitter, rand_augment=rand_augment,
                auto_augment=flags.autoaugment,
                random_erasing=flags.random_erasing,
                mixup_alpha=flags.mixup,
                cutmix_alpha=flags.cutmix, mix_prob=flags.mixup_prob,
                mix_switch_prob=flags.mixup_switch_prob, num_classes=num_classes)


def eval_dataset(files, labels, model, image_size, batch_size, threads=None):
    if not files:
        return None
    return data.build_eval_dataset(files, labels,
                                   **eval_args(model, image_size, batch_size, threads))


def eval_args(model, image_size, batch_size, threads):
    """The evaluation pipelines' arguments for ``model`` (size, crop_pct, interpolation,
    normalization: what its weights' source evaluates with)."""
    return dict(image_size=image_size, batch_size=batch_size,
                crop_pct=model.pretrained_cfg.get("crop_pct", 0.875),
                interpolation=model.pretrained_cfg.get("interpolation", "bilinear"),
                threads=parse_threads(threads), **preprocessing_args(model))


class TrainingData:
    """A data source as ``launch.train`` uses it: class names, sizes, a description, what
    ``run.json`` records, and builders of the training input_fn and the evaluation data set."""

    def __init__(self, description, class_names, num_train, num_val, record, train_fn, eval_fn):
        self.description, self.class_names = description, list(class_names)
        self.num_train, self.num_val, self.record = num_train, num_val, record
        self._train_fn, self._eval_fn = train_fn, eval_fn

    def train_input_fn(self, model, image_size, global_batch_size, seed, min_crop_scale,
                       threads, **augmentation):
        return self._train_fn(image_size=image_size, global_batch_size=global_batch_size,
                              seed=seed, scale=(min_crop_scale, 1.0),
                              threads=parse_threads(threads), **augmentation,
                              **preprocessing_args(model))

    def eval_dataset(self, model, image_size, batch_size, threads=None):
        if not self.num_val:
            return None
        return self._eval_fn(**eval_args(model, image_size, batch_size, threads))


def open_data(data_dir=None, source=None, val_split=0.1, seed=0, label_offset=0,
              tfds_data_dir=None, num_classes=None, shuffle_buffer=None):
    """The ``TrainingData`` of the data flags: ``source`` "tfds:<name>", else ``data_dir`` as
    TFRecord shards (gs://, or a folder with ``train-*-of-*``) or as an image folder."""
    shuffle_buffer = shuffle_buffer or data.DEFAULT_SHUFFLE_BUFFER
    if source:
        if not source.startswith("tfds:") or len(source) == len("tfds:"):
            raise UserError(f"--data takes tfds:<name> (e.g. tfds:cifar10), got {source!r}; "
                            f"image folders and TFRecord shards go in --data_dir.")
        return _tfds_data(source[len("tfds:"):], tfds_data_dir, shuffle_buffer)
    if data_dir and (data_dir.startswith("gs://") or _has_shards(data_dir)):
        with storage_errors_as_user_errors(data_dir):
            return _tfrecord_data(data_dir, label_offset, num_classes, shuffle_buffer)
    train_files, train_labels, val_files, val_labels, class_names, data_dir = load_files(
        data_dir, val_split, seed)
    return TrainingData(
        f"{len(train_files)} images ({len(val_files)} for validation) under {data_dir}",
        class_names, len(train_files), len(val_files),
        {"data_dir": os.path.abspath(data_dir), "val_split": val_split, "seed": seed},
        lambda **kw: data.build_train_input_fn(train_files, train_labels, **kw),
        lambda **kw: data.build_eval_dataset(val_files, val_labels, **kw))


@contextlib.contextmanager
def storage_errors_as_user_errors(path):
    """A storage error reading ``path`` (no network, no credentials, no such bucket) as one
    UserError: what was tried, and what to check."""
    import tensorflow as tf
    try:
        yield
    except tf.errors.OpError as err:
        reason = (err.message or str(err)).strip().splitlines()[0]
        check = ("the network connection, the Google Cloud credentials (gcloud auth "
                 "application-default login, or GOOGLE_APPLICATION_CREDENTIALS) and that the "
                 "bucket and path exist" if "://" in path else "that the path exists and is "
                 "readable")
        raise UserError(f"cannot read the data at {path}: {reason}. Check {check}.") from None


def _has_shards(data_dir):
    import tensorflow as tf
    return bool(tf.io.gfile.glob(os.path.join(data_dir, "train-*-of-*")))


def _tfrecord_data(data_dir, label_offset, num_classes, shuffle_buffer):
    import tensorflow as tf
    if label_offset < 0:
        raise UserError(f"--label_offset must be >= 0, got {label_offset}.")
    train = data.TFRecordSource(data_dir, "train", label_offset)
    has_val = bool(tf.io.gfile.glob(os.path.join(data_dir, "validation-*-of-*")))
    val = data.TFRecordSource(data_dir, "validation", label_offset) if has_val else None
    classes_file = os.path.join(data_dir, "classes.txt")
    if tf.io.gfile.exists(classes_file):
        with tf.io.gfile.GFile(classes_file) as f:
            class_names = [line.strip() for line in f if line.strip()]
        if num_classes and num_classes != len(class_names):
            raise UserError(f"--num_classes={num_classes} but {classes_file} lists "
                            f"{len(class_names)} classes.")
    elif num_classes:
        class_names = [str(i) for i in range(num_classes)]
    else:
        raise UserError(f"{data_dir} has no classes.txt (launch.make_tfrecords writes one): "
                        f"pass --num_classes.")
    return _record_data(train, val, class_names, shuffle_buffer,
                        {"data_dir": data_dir, "label_offset": label_offset})


def _tfds_data(name, tfds_data_dir, shuffle_buffer):
    try:
        train = data.TFDSSource(name, "train", tfds_data_dir)
    except ImportError as err:
        raise UserError(str(err)) from None
    val_split = next((s for s in ("validation", "test") if train.has_split(s)), None)
    val = data.TFDSSource(name, val_split, tfds_data_dir) if val_split else None
    return _record_data(train, val, train.class_names, shuffle_buffer,
                        {"data": f"tfds:{name}", "tfds_data_dir": tfds_data_dir})


def _record_data(train, val, class_names, shuffle_buffer, record):
    num_classes = len(class_names)
    val_text = f", {val.num_examples} for validation from {val.describe()}" if val else ""
    return TrainingData(
        f"{train.num_examples} images in {train.describe()}{val_text}", class_names,
        train.num_examples, val.num_examples if val else 0, record,
        lambda **kw: data.build_records_input_fn(train, shuffle_buffer=shuffle_buffer, **kw),
        lambda **kw: data.build_records_eval_dataset(val, num_classes=num_classes, **kw))


def data_errors():
    import tensorflow as tf
    return tf.errors.InvalidArgumentError


_BAD_LABEL = "Label "


def bad_data_message(err):
    """The one line of a pipeline's bad-label error (``record_pipeline``); re-raises others."""
    text = str(err.message if hasattr(err, "message") else err)
    start = text.find(_BAD_LABEL)
    if start < 0 or "is outside [0," not in text:
        raise err
    end = text.find("from 1).", start)  # the message's last words (record_pipeline)
    return text[start:end + len("from 1).")] if end >= 0 else text[start:].splitlines()[0]
