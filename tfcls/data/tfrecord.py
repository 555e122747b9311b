"""TFRecord shards in the ImageNet layout (the layout of TF's ``build_imagenet_data.py`` and of
TF Model Garden / TPU input pipelines): files ``<split>-00000-of-00008``, each record a
``tf.train.Example`` with ``image/encoded`` (the file's bytes, not re-encoded),
``image/class/label`` (class id plus ``label_offset``; ImageNet's own shards count from 1),
``image/format`` and ``image/filename``. Paths may be local or any ``tf.io.gfile`` URL (gs://)."""
import os

import tensorflow as tf

FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
}


def shard_name(split, index, num_shards):
    return f"{split}-{index:05d}-of-{num_shards:05d}"


def write_shards(files, labels, out_dir, split, num_shards, label_offset=0):
    """Writes ``files`` (read as bytes) with ``labels`` into ``num_shards`` shards, file ``i``
    into shard ``i mod num_shards`` in order; returns the shard paths. Writes each shard under a
    temporary name first, so an interrupted run leaves no shard that looks complete."""
    if len(files) != len(labels) or not files:
        raise ValueError(f"Need as many labels as files, at least one; got {len(files)} files and "
                         f"{len(labels)} labels.")
    if not 1 <= num_shards <= len(files):
        raise ValueError(f"num_shards must be in [1, {len(files)}] (one file at least per "
                         f"shard), got {num_shards}.")
    tf.io.gfile.makedirs(out_dir)
    paths = []
    for shard in range(num_shards):
        path = os.path.join(out_dir, shard_name(split, shard, num_shards))
        with tf.io.TFRecordWriter(path + ".tmp") as writer:
            for index in range(shard, len(files), num_shards):
                writer.write(_example(files[index], labels[index] + label_offset))
        tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
        paths.append(path)
    return paths


def _example(path, label):
    data = tf.io.gfile.GFile(path, "rb").read()
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    feature = {
        "image/encoded": _bytes(data),
        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
        "image/format": _bytes(extension.encode()),
        "image/filename": _bytes(os.path.basename(path).encode()),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def list_shards(data_dir, split):
    """The ``<split>-*-of-*`` shards under ``data_dir``, sorted; a clear error when none."""
    paths = sorted(tf.io.gfile.glob(os.path.join(data_dir, f"{split}-*-of-*")))
    paths = [p for p in paths if not p.endswith(".tmp")]
    if not paths:
        raise FileNotFoundError(f"No TFRecord shards {split}-*-of-* under {data_dir}.")
    return paths


def parse_example(record, label_offset=0):
    """``(encoded image bytes, int32 class id)`` of one serialized record."""
    parsed = tf.io.parse_single_example(record, FEATURES)
    return parsed["image/encoded"], tf.cast(parsed["image/class/label"] - label_offset, tf.int32)


def read_examples(data_dir, split, label_offset=0):
    """Every record of a split's shards, shard after shard, as ``(bytes, class id)``."""
    dataset = tf.data.TFRecordDataset(list_shards(data_dir, split))
    return dataset.map(lambda record: parse_example(record, label_offset))
