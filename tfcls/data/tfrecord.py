"""TFRecord shards in the ImageNet layout (the layout of TF's ``build_imagenet_data.py`` and of
TF Model Garden / TPU input pipelines): files ``<split>-00000-of-00008``, each record a
``tf.train.Example`` with ``image/encoded`` (the file's bytes, not re-encoded),
``image/class/label`` (class id plus ``label_offset``; ImageNet's own shards count from 1),
``image/format`` and ``image/filename``. Paths may be local or any ``tf.io.gfile`` URL (gs://).
``shards.json`` beside the shards records how many records each holds."""
import json
import os

import numpy as np

import tensorflow as tf

FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
}


def shard_name(split, index, num_shards):
    return f"{split}-{index:05d}-of-{num_shards:05d}"


def write_shards(files, labels, out_dir, split, num_shards, label_offset=0, shuffle_seed=None):
    """Writes ``files`` (read as bytes) with ``labels`` into ``num_shards`` shards, file ``i``
    into shard ``i mod num_shards`` in order (after a permutation seeded by ``shuffle_seed``
    unless it is None: a class-sorted folder then gives shards of mixed classes, as
    ``build_imagenet_data.py`` does); returns the shard paths and records their counts in
    ``shards.json``. Writes each shard under a temporary name first, so an interrupted run
    leaves no shard that looks complete."""
    if len(files) != len(labels) or not files:
        raise ValueError(f"Need as many labels as files, at least one; got {len(files)} files and "
                         f"{len(labels)} labels.")
    if not 1 <= num_shards <= len(files):
        raise ValueError(f"num_shards must be in [1, {len(files)}] (one file at least per "
                         f"shard), got {num_shards}.")
    tf.io.gfile.makedirs(out_dir)
    order = (np.arange(len(files)) if shuffle_seed is None
             else np.random.default_rng(shuffle_seed).permutation(len(files)))
    paths, counts = [], {}
    for shard in range(num_shards):
        path = os.path.join(out_dir, shard_name(split, shard, num_shards))
        members = order[shard::num_shards]
        with tf.io.TFRecordWriter(path + ".tmp") as writer:
            for index in members:
                writer.write(_example(files[index], labels[index] + label_offset))
        tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
        paths.append(path)
        counts[os.path.basename(path)] = len(members)
    write_counts(out_dir, counts)
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
    totals = {os.path.basename(p).rsplit("-of-", 1)[-1] for p in paths}
    if len(totals) > 1:
        raise ValueError(f"{data_dir} mixes {split} shard sets of {sorted(totals)} shards: keep "
                         f"one set (remove the other, e.g. an older make_tfrecords output).")
    total = totals.pop()
    if total.isdigit() and len(paths) != int(total):
        expected = {shard_name(split, i, int(total)) for i in range(int(total))}
        missing = sorted(expected - {os.path.basename(p) for p in paths})
        raise FileNotFoundError(f"{data_dir} has {len(paths)} of the {int(total)} {split} "
                                f"shards; missing {missing[:3]}{'...' if len(missing) > 3 else ''}.")
    return paths


def parse_example(record, label_offset=0):
    """``(encoded image bytes, int32 class id)`` of one serialized record."""
    parsed = tf.io.parse_single_example(record, FEATURES)
    return parsed["image/encoded"], tf.cast(parsed["image/class/label"] - label_offset, tf.int32)


def read_examples(data_dir, split, label_offset=0):
    """Every record of a split's shards, shard after shard, as ``(bytes, class id)``."""
    dataset = tf.data.TFRecordDataset(list_shards(data_dir, split))
    return dataset.map(lambda record: parse_example(record, label_offset))


COUNTS_FILE = "shards.json"


def shard_counts(paths):
    """Records in each shard: from ``shards.json`` beside them when it lists them all, else
    counted (every shard read once, in parallel)."""
    directory = os.path.dirname(paths[0])
    index = os.path.join(directory, COUNTS_FILE)
    if tf.io.gfile.exists(index):
        with tf.io.gfile.GFile(index) as f:
            known = json.load(f)
        names = [os.path.basename(p) for p in paths]
        if all(name in known for name in names):
            return [int(known[name]) for name in names]
    return count_records(paths)


def count_records(paths):
    """Readable records of each shard (a corrupt record ends the count of its shard)."""
    counts = tf.data.Dataset.from_tensor_slices(list(paths)).map(
        lambda path: tf.data.TFRecordDataset(path).ignore_errors().reduce(
            tf.constant(0, tf.int64), lambda total, _: total + 1),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return [int(c) for c in counts.as_numpy_iterator()]


def write_counts(directory, counts_by_name):
    """Merges ``{shard name: records}`` into ``directory``'s ``shards.json``."""
    path = os.path.join(directory, COUNTS_FILE)
    known = {}
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            known = json.load(f)
    known.update({name: int(count) for name, count in counts_by_name.items()})
    with tf.io.gfile.GFile(path + ".tmp", "w") as f:
        json.dump(dict(sorted(known.items())), f, indent=1)
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
