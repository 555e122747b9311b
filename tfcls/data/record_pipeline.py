"""``tf.data`` pipelines over record sources (TFRecord shards, TFDS; ``tfcls.data.records``).

Each input pipeline reads its own part of the data (``source.pipeline_records``) as an endless
run of epochs. Epoch ``e`` of pipeline ``p`` is that part in the order given by the seed
``(seed, p, e)`` (shards permuted, interleaved), shuffled in windows of ``shuffle_buffer`` records
(each window permuted by a stateless shuffle seeded by ``(seed, p, e, window)``), and always
exactly ``count`` records long: records a corrupt shard could not give are made up at the end of
the epoch by placeholders. Record ``q`` of the epoch is augmented with the seed ``(seed, p, e,
q)``. So pipeline ``p``'s element ``j`` is a function of the seed and ``j`` alone, and
``input_fn(start_step=k)`` starts at epoch ``e = k * b // count`` (``b`` the pipeline's batch),
reading and dropping the first ``k * b mod count`` records of that epoch (no decoding) to yield
exactly the batches an uninterrupted run sees from step ``k`` on.

Images that fail to decode stay in place as placeholders with class id -1 (the trainer skips and
counts them); a label outside ``[0, num_classes)`` stops the pipeline with an error naming the
shard. Unlike the file pipeline, the global batch depends on how many input pipelines there are
(each reads other shards): a run resumed with another number of workers sees other batches.
"""
import tensorflow as tf

from tfcls.data import pipeline, transforms

DEFAULT_SHUFFLE_BUFFER = 10_000


def build_records_input_fn(source, *, num_classes, shuffle_buffer=DEFAULT_SHUFFLE_BUFFER,
                           **options):
    """``input_fn(start_step=0, input_context=None)`` of training batches from ``source`` (a
    ``TFRecordSource`` or ``TFDSSource``); ``options`` are ``pipeline.train_config``'s."""
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}.")
    if int(shuffle_buffer) < 1:
        raise ValueError(f"shuffle_buffer must be >= 1 record, got {shuffle_buffer}.")
    config = pipeline.train_config(num_classes=num_classes, **options)

    def input_fn(start_step=0, input_context=None):
        if start_step < 0:
            raise ValueError(f"start_step must be >= 0, got {start_step}.")
        num_pipelines, pipeline_id, batch = pipeline.sharding(
            input_context, config["global_batch_size"])
        part = source.pipeline_records(pipeline_id, num_pipelines)
        per_pipeline = config["global_batch_size"] // num_pipelines
        first_epoch, skip = divmod(start_step * per_pipeline, part.count)
        key = tf.random.experimental.stateless_fold_in(
            tf.constant([config["seed"], 5], tf.int64), pipeline_id)

        def epoch(e):
            return _epoch_elements(part, tf.random.experimental.stateless_fold_in(key, e),
                                   min(int(shuffle_buffer), part.count),
                                   tf.where(e == first_epoch, tf.constant(skip, tf.int64),
                                            tf.constant(0, tf.int64)))

        def load(payload, origin, present, aug_seed):
            tf.debugging.assert_equal(present, True, message="padding for a corrupt shard")
            data, label = part.decode(payload)
            return pipeline.train_image(data, aug_seed, config), label

        dataset = tf.data.Dataset.range(first_epoch, tf.int64.max).flat_map(epoch)
        return pipeline.finish(
            dataset, load, batch, config["threads"], drop_remainder=True, sharded=input_context,
            batch_fn=pipeline.mix_batch_fn(config, input_context),
            first_batch=start_step * pipeline.replicas_per_pipeline(input_context),
            carry=lambda payload, origin, *_: (origin,), check=_label_check(num_classes),
            name=lambda payload, origin, present, aug_seed: tf.where(  # padding: named already
                present, tf.strings.join(["a record of ", origin]), ""))

    return input_fn


def _epoch_elements(part, epoch_seed, window, skip):
    """``(payload, origin, present, aug_seed)`` of one epoch from record ``skip`` on."""
    records = part.epoch(epoch_seed).map(lambda payload, origin: (payload, origin, True))
    spec = records.element_spec
    padding = tf.data.Dataset.from_tensors(tf.nest.map_structure(
        lambda s: tf.zeros(s.shape, s.dtype), spec)).repeat()
    records = records.concatenate(padding).take(part.count)

    def permute(index, block):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(tf.shape(block[2])[0]),
            tf.random.experimental.stateless_fold_in(epoch_seed, index))
        return tf.nest.map_structure(lambda t: tf.gather(t, order), block)

    # the next window is read while this one is decoded (two windows in memory, as a shuffle
    # buffer and its refill)
    records = records.batch(window).enumerate().map(permute).prefetch(1).unbatch().skip(skip)
    positions = tf.data.Dataset.range(skip, part.count)
    aug_key = tf.random.experimental.stateless_fold_in(epoch_seed, -1)
    return tf.data.Dataset.zip(records, positions).map(
        lambda record, q: (*record, tf.random.experimental.stateless_fold_in(aug_key, q)))


def _label_check(num_classes):
    def check(image, label, valid, origin):
        ok = tf.logical_or(tf.logical_not(valid),
                           tf.logical_and(label >= 0, label < num_classes))

        def fail():  # the message is only formatted for a bad label
            message = tf.strings.join([  # join, not format: format quotes the shard's path
                "Label ", tf.strings.as_string(label), f" is outside [0, {num_classes}) in ",
                origin, ": check --num_classes, and --label_offset (the stored label minus the "
                "offset must be a class id; the shards of ImageNet count from 1)."])
            with tf.control_dependencies([tf.debugging.Assert(False, [message])]):
                return tf.identity(label)

        return image, tf.cond(ok, lambda: label, fail)
    return check


def build_records_eval_dataset(source, *, image_size, batch_size, mean, std, num_classes,
                               channel_order="RGB", crop_pct=0.875, interpolation="bilinear",
                               threads=None, input_context=None):
    """One pass over ``source``'s records in shard order, as ``pipeline.build_eval_dataset``
    preprocesses files (resize by ``crop_pct``, centre crop); last batch possibly smaller."""
    pipeline.check_common(image_size, batch_size, mean, std, channel_order)
    resize_to = transforms.eval_resize_size(image_size, crop_pct)
    num_pipelines, pipeline_id, batch = pipeline.sharding(input_context, batch_size)
    records, decode = source.eval_records(pipeline_id, num_pipelines)

    def load(payload, origin):
        data, label = decode(payload)
        image = transforms.eval_preprocess(transforms.decode_image(data), image_size, resize_to,
                                           mean, std, channel_order, interpolation)
        return image, label

    return pipeline.finish(records, load, batch, threads, drop_remainder=False,
                           sharded=input_context, carry=lambda payload, origin: (origin,),
                           check=_label_check(num_classes),
                           name=lambda payload, origin: tf.strings.join(["a record of ", origin]))
