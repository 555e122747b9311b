"""Record sources for training at scale: TFRecord shards (local or ``gs://``) and TFDS data sets.

A source hands each input pipeline ``p`` of ``P`` (one per worker, ``tf.distribute.InputContext``)
its part of the data as ``PipelineRecords``: how many records it has per epoch and, for any epoch,
those records in a fixed order. Pipelines take whole shards (``shards[p::P]``) when there are at
least as many shards as pipelines, else every ``P``-th record of the interleaved stream; either
way the parts are disjoint and together cover the data. ``tfcls.data.record_pipeline`` shuffles,
decodes, augments and batches them, and resumes them exactly.

Each record comes with its origin (the shard's path, or the TFDS split) so that a bad label can be
reported where it is.
"""
import sys

import tensorflow as tf

from tfcls.data import tfrecord

DEFAULT_CYCLE_LENGTH = 16   # shards read at once by one pipeline (parallel interleave)


class PipelineRecords:
    """One input pipeline's records: ``count`` per epoch, ``epoch(seed)`` a ``tf.data.Dataset``
    of ``(payload, origin)`` in an order fixed by ``seed`` (an int64 [2] tensor), ``decode`` the
    source's ``payload -> (encoded image bytes, int32 class id)``."""

    def __init__(self, count, epoch, decode):
        self.count, self.epoch, self.decode = int(count), epoch, decode


class TFRecordSource:
    """The ``<split>-*-of-*`` TFRecord shards under ``data_dir`` (``tfcls.data.tfrecord``).

    Record counts per shard come from the ``shards.json`` that ``launch.make_tfrecords`` writes,
    or are counted once (a read of every shard) when it is missing. Labels are stored class ids
    plus ``label_offset`` (1 for ImageNet's own shards). Each epoch reads this pipeline's shards
    in an order permuted by the epoch's seed, ``cycle_length`` at a time, one record from each in
    turn; a corrupt record ends its shard there (the rest of the shard cannot be framed) and is
    made up for at the end of the epoch by placeholders that the loss skips.
    """

    def __init__(self, data_dir, split="train", label_offset=0, cycle_length=DEFAULT_CYCLE_LENGTH):
        self.data_dir, self.split, self.label_offset = data_dir, split, int(label_offset)
        self.cycle_length = int(cycle_length)
        self.paths = tfrecord.list_shards(data_dir, split)
        self.counts = tfrecord.shard_counts(self.paths)
        self.num_examples = sum(self.counts)
        if self.num_examples == 0:
            raise ValueError(f"The {len(self.paths)} {split} shard(s) under {data_dir} hold no "
                             f"readable records.")

    def describe(self):
        return f"{len(self.paths)} {self.split} shards under {self.data_dir}"

    def _decode(self, record):
        return tfrecord.parse_example(record, self.label_offset)

    def pipeline_records(self, pipeline_id=0, num_pipelines=1):
        """This pipeline's training records (see the class docstring)."""
        files, count, by_records = self._part(pipeline_id, num_pipelines)
        files_t, counts_t = tf.constant(files), tf.constant(self._counts_of(files), tf.int64)
        cycle = min(self.cycle_length, len(files))

        def epoch(seed):
            order = tf.random.experimental.stateless_shuffle(tf.range(len(files)), seed)
            records = tf.data.Dataset.from_tensor_slices(
                (tf.gather(files_t, order), tf.gather(counts_t, order))).interleave(
                _read_shard, cycle_length=cycle, block_length=1, num_parallel_calls=cycle,
                deterministic=True)
            return records.shard(num_pipelines, pipeline_id) if by_records else records

        return PipelineRecords(count, epoch, self._decode)

    def eval_records(self, pipeline_id=0, num_pipelines=1):
        """This pipeline's records in shard order (one pass): ``(dataset, decode)``."""
        files, _, by_records = self._part(pipeline_id, num_pipelines)
        records = tf.data.Dataset.from_tensor_slices(
            (files, tf.constant(self._counts_of(files), tf.int64))).flat_map(_read_shard)
        if by_records:
            records = records.shard(num_pipelines, pipeline_id)
        return records, self._decode

    def _counts_of(self, files):
        return [self.counts[self.paths.index(path)] for path in files]

    def _part(self, pipeline_id, num_pipelines):
        """``(shard paths, records per epoch, sharded by records)`` of one pipeline."""
        if len(self.paths) >= num_pipelines:
            files = self.paths[pipeline_id::num_pipelines]
            count = sum(self.counts[pipeline_id::num_pipelines])
            if count == 0:
                raise ValueError(f"Input pipeline {pipeline_id} of {num_pipelines} got only empty "
                                 f"shards of {self.describe()}: write more, evenly filled shards "
                                 f"(launch.make_tfrecords --shards).")
            return files, count, False
        return self.paths, len(range(pipeline_id, self.num_examples, num_pipelines)), True


def _read_shard(path, expected):
    """A shard's records with their origin. A corrupt record ends the shard (never a retry); a
    shard that ends before its ``expected`` count (truncated, corrupt) prints a warning naming it
    and how many records it gave, once per pass."""
    records = tf.data.TFRecordDataset(path).ignore_errors().map(
        lambda record: (record, path, True))
    end = tf.data.Dataset.from_tensors((tf.constant(b""), path, False))

    def keep(index, element):
        real = element[2]

        def warn():
            tf.print(tf.strings.join([  # one string: tf.print quotes a string among others
                "warning: TFRecord shard ", path, " ends after ", tf.strings.as_string(index),
                " of its ", tf.strings.as_string(expected), " records (truncated or corrupt); "
                "the rest are skipped."]), output_stream=sys.stderr)
            return real
        return tf.cond(tf.logical_and(tf.logical_not(real), index < expected), warn,
                       lambda: real)

    return records.concatenate(end).enumerate().filter(keep).map(
        lambda index, element: element[:2])
