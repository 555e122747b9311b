"""``tf.data`` input pipelines for training (exactly resumable) and evaluation.

Training data is an endless stream of element indices ``g = 0, 1, 2, ...``: element ``g`` is file
``index_shuffle(g mod N)`` of epoch ``g div N`` (a stateless per-epoch permutation of the N files,
seeded by ``(seed, epoch)``), augmented with stateless random ops seeded by ``(seed, g)``. Step
``k`` is made of elements ``k * B ... (k + 1) * B - 1`` for a global batch size ``B``, so
``input_fn(start_step=k)`` starts the index stream at ``k * B`` (skipping file indices, not decoded
images) and yields exactly the batches an uninterrupted run sees from step ``k`` on.

With several input pipelines (``tf.distribute.InputContext``, one per worker), pipeline ``p`` of
``P`` takes the ``p``-th contiguous block of ``B / P`` elements of every step: each global batch
holds the same images (and augmentations) whatever ``P`` is, and replica ``r`` of the cluster gets
the same elements as replica ``r`` of one process with as many replicas (each pipeline yields
per-replica batches, handed to its replicas in turn). Mixup/cutmix pair images within a
per-replica batch, seeded by the step and the global replica index, so they agree as well.

Files that pass the header check of the folder scan but fail to decode (or vanish) keep their
place as a placeholder with class id -1 (``decode_or_placeholder``, with a warning naming it): the
trainer's loss and metrics skip it and count it (``skipped_examples``), and no later batch moves,
so resume stays exact.

Parallelism: ``threads=None`` lets ``tf.data`` autotune when an accelerator is present. On a
CPU-only machine, autotune starves the training step of cores (measured on 2 cores: the loop sits
idle), so the default there is a fixed ``max(1, cpu_count // 2)`` decode threads, autotune off.
Pass ``threads=N`` to fix it, or ``threads="autotune"``.
"""
import functools
import os
import sys

import tensorflow as tf

from tfcls.data import augment, autoaugment, randaugment, transforms

AUTOTUNE = "autotune"


def build_train_input_fn(files, labels, **options):
    """Returns ``input_fn(start_step=0, input_context=None) -> tf.data.Dataset`` for training on
    image files (paths) with int ``labels``; ``options`` are ``train_config``'s."""
    _check_files(files, labels)
    return functools.partial(_train_dataset, list(files), list(labels), train_config(**options))


def train_config(*, image_size, global_batch_size, mean, std, channel_order="RGB", seed=0,
                 scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), hflip=0.5, interpolation="bilinear",
                 threads=None, color_jitter=0.0, rand_augment=None, auto_augment=None,
                 random_erasing=0.0,
                 mixup_alpha=0.0, cutmix_alpha=0.0, mix_prob=1.0, mix_switch_prob=0.5,
                 num_classes=None):
    """The checked options of a training pipeline (of files or of records), as a dict.

    The data set repeats forever and yields ``(images, labels)`` batches: images float32
    ``(b, image_size, image_size, 3)`` normalized with ``mean``/``std`` (on [0, 1] pixels, in
    ``channel_order``), labels int32 ``(b,)``; ``b`` is ``global_batch_size``, or the per-replica
    batch size under an ``input_context``. Augmentation: random-resized crop with area fraction in
    ``scale`` and aspect ratio in ``ratio`` (use a milder scale such as (0.35, 1) for tiny images),
    horizontal flip with probability ``hflip``, colour jitter of strength ``color_jitter``
    (brightness, contrast and saturation; ``augment.color_jitter``),
    ``rand_augment=(num_ops, magnitude, magnitude_std)``
    (``randaugment.rand_augment``; None: off) or ``auto_augment="imagenet"`` (AutoAugment's
    ImageNet policy, ``autoaugment.auto_augment``), then (on the normalized image) random
    erasing with probability ``random_erasing``. With ``mixup_alpha`` or ``cutmix_alpha`` above
    0, each batch is mixed (``augment.mix_batch``: with probability ``mix_prob``, cutmix with ``mix_switch_prob``
    when both are on) and labels are float32 targets ``(b, num_classes)``; the mixing is seeded by
    ``(seed, step)`` and pairs images within what one input pipeline yields. ``threads``: decode
    threads (see the module docstring).
    """
    check_common(image_size, global_batch_size, mean, std, channel_order)
    if (mixup_alpha or cutmix_alpha) and not num_classes:
        raise ValueError("mixup/cutmix make dense targets: pass num_classes.")
    if not 0.0 <= random_erasing <= 1.0:
        raise ValueError(f"random_erasing is a probability in [0, 1], got {random_erasing}.")
    augment.check_mix_args(mixup_alpha, cutmix_alpha, mix_prob, mix_switch_prob)
    if rand_augment is not None:
        rand_augment = (int(rand_augment[0]), float(rand_augment[1]), float(rand_augment[2]))
        randaugment.check_args(*rand_augment)
    if not 0.0 <= color_jitter <= 1.0:
        raise ValueError(f"color_jitter must be in [0, 1], got {color_jitter}.")
    if auto_augment is not None and auto_augment not in autoaugment.POLICIES:
        raise ValueError(f"auto_augment must be one of {sorted(autoaugment.POLICIES)} or None, "
                         f"got {auto_augment!r}.")
    if auto_augment and rand_augment and rand_augment[0]:
        raise ValueError("Choose RandAugment or AutoAugment, not both (each recipe uses one).")
    _num_parallel_calls(threads)
    return dict(color_jitter=float(color_jitter), rand_augment=rand_augment,
                auto_augment=auto_augment,
                image_size=int(image_size), global_batch_size=int(global_batch_size),
                mean=tuple(mean), std=tuple(std), channel_order=channel_order, seed=int(seed),
                scale=tuple(scale), ratio=tuple(ratio), hflip=float(hflip),
                interpolation=interpolation, threads=threads,
                random_erasing=float(random_erasing),
                mix=dict(mixup_alpha=float(mixup_alpha), cutmix_alpha=float(cutmix_alpha),
                         prob=float(mix_prob), switch_prob=float(mix_switch_prob),
                         num_classes=num_classes))


def mix_batch_fn(config, input_context):
    """``batch_fn(n, batch)`` mixing this pipeline's ``n``-th per-replica batch (mixup/cutmix) as
    ``config`` says, seeded by the step and the global replica index; None when both are off."""
    mix, seed = config["mix"], config["seed"]
    if not (mix["mixup_alpha"] or mix["cutmix_alpha"]):
        return None
    num_pipelines, pipeline_id, _ = sharding(input_context, config["global_batch_size"])
    local = replicas_per_pipeline(input_context)

    def mix_batch(n, batch_):
        step, replica = n // local, n % local
        global_replica = step * num_pipelines * local + pipeline_id * local + replica
        mix_seed = tf.random.experimental.stateless_fold_in(
            tf.constant([seed, 2], tf.int64), global_replica)
        return augment.mix_batch(*batch_, mix_seed, **mix)

    return mix_batch


def replicas_per_pipeline(input_context):
    if input_context is None:
        return 1
    return max(1, input_context.num_replicas_in_sync // input_context.num_input_pipelines)


def build_eval_dataset(files, labels, *, image_size, batch_size, mean, std, channel_order="RGB",
                       crop_pct=0.875, interpolation="bilinear", threads=None, input_context=None):
    """Evaluation batches in file order: one pass, last batch possibly smaller.

    Each image is resized so its shorter side is ``floor(image_size / crop_pct)``, centre-cropped to
    ``image_size`` and normalized as in training. ``batch_size`` is global; under an
    ``input_context`` the files are sharded by input pipeline and batched per replica.
    """
    _check_inputs(files, labels, image_size, batch_size, mean, std, channel_order)
    resize_to = transforms.eval_resize_size(image_size, crop_pct)
    num_pipelines, pipeline_id, batch = sharding(input_context, batch_size)
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant(list(files), tf.string), tf.constant(list(labels), tf.int32)))
    dataset = dataset.shard(num_pipelines, pipeline_id)

    def load(path, label):
        image = transforms.decode_image(tf.io.read_file(path))
        return transforms.eval_preprocess(image, image_size, resize_to, mean, std, channel_order,
                                          interpolation), label

    return finish(dataset, load, batch, threads, drop_remainder=False, sharded=input_context,
                  name=lambda path, label: path)


def _train_dataset(files, labels, config, start_step=0, input_context=None):
    """The training data set from step ``start_step`` on (see the module docstring)."""
    if start_step < 0:
        raise ValueError(f"start_step must be >= 0, got {start_step}.")
    num_pipelines, pipeline_id, batch = sharding(input_context, config["global_batch_size"])
    per_pipeline = config["global_batch_size"] // num_pipelines
    num_files, seed = len(files), config["seed"]
    files_t, labels_t = tf.constant(files, tf.string), tf.constant(labels, tf.int32)

    def element(i):
        step, j = i // per_pipeline, i % per_pipeline
        g = step * config["global_batch_size"] + pipeline_id * per_pipeline + j  # global index
        epoch, position = g // num_files, g % num_files
        shuffle_seed = tf.random.experimental.stateless_fold_in(
            tf.constant([seed, 0], tf.int64), epoch)
        index = tf.random.experimental.index_shuffle(
            position, shuffle_seed, tf.constant(num_files - 1, tf.int64))
        aug_seed = tf.random.experimental.stateless_fold_in(tf.constant([seed, 1], tf.int64), g)
        return files_t[index], labels_t[index], aug_seed

    def load(path, label, aug_seed):
        return train_image(tf.io.read_file(path), aug_seed, config), label

    dataset = tf.data.Dataset.range(start_step * per_pipeline, tf.int64.max).map(element)
    return finish(dataset, load, batch, config["threads"], drop_remainder=True,
                  sharded=input_context, batch_fn=mix_batch_fn(config, input_context),
                  first_batch=start_step * replicas_per_pipeline(input_context),
                  name=lambda path, label, aug_seed: path)


def train_image(data, aug_seed, config):
    """One training view of encoded image bytes: random-resized crop (decoding only the window
    of a JPEG), resize, flip, [colour jitter, RandAugment or AutoAugment,] normalize, [random erasing]; every
    random choice a function of ``aug_seed``. ``config`` is what ``build_train_input_fn`` keeps."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(aug_seed, 2))
    image = transforms.decode_random_crop(data, crop_seed, config["scale"], config["ratio"])
    size = config["image_size"]
    image = transforms.resize(image, [size, size], config["interpolation"])
    image = transforms.random_horizontal_flip(image, flip_seed, config["hflip"])
    image.set_shape([size, size, 3])
    if config["color_jitter"] or config["rand_augment"] or config["auto_augment"]:
        image = tf.cast(image, tf.float32) / 255.0
        if config["color_jitter"]:
            jitter_seed = tf.random.experimental.stateless_fold_in(aug_seed, 4)
            strength = config["color_jitter"]
            image = augment.color_jitter(image, jitter_seed, brightness=strength,
                                         contrast=strength, saturation=strength)
        if config["rand_augment"]:
            rand_seed = tf.random.experimental.stateless_fold_in(aug_seed, 3)
            image = randaugment.rand_augment(image, rand_seed, *config["rand_augment"])
        if config["auto_augment"]:
            auto_seed = tf.random.experimental.stateless_fold_in(aug_seed, 5)
            image = autoaugment.auto_augment(image, auto_seed, config["auto_augment"])
        image = 255.0 * image
    image = transforms.normalize(image, config["mean"], config["std"], config["channel_order"])
    if config["random_erasing"]:
        erase_seed = tf.random.experimental.stateless_fold_in(aug_seed, 2)
        image = augment.random_erasing(image, erase_seed, config["random_erasing"])
    return image


def build_synthetic_input_fn(*, image_size, global_batch_size, num_classes, seed=0):
    """``input_fn(start_step=0, input_context=None)`` of random data for benchmarks: standard
    normal float32 images ``(b, image_size, image_size, 3)`` and int32 labels, batch ``k`` a
    function of ``(seed, k)`` (and the input pipeline), so that it resumes like the real ones."""
    if int(image_size) < 1 or int(global_batch_size) < 1 or int(num_classes) < 1:
        raise ValueError(f"image_size, global_batch_size and num_classes must be positive, got "
                         f"{image_size}, {global_batch_size}, {num_classes}.")

    def input_fn(start_step=0, input_context=None):
        num_pipelines, pipeline_id, batch = sharding(input_context, global_batch_size)

        def make(step):
            image_seed, label_seed = tf.unstack(tf.random.experimental.stateless_split(
                tf.random.experimental.stateless_fold_in(
                    tf.constant([seed, 3], tf.int64), step * num_pipelines + pipeline_id), 2))
            images = tf.random.stateless_normal([batch, image_size, image_size, 3], image_seed)
            labels = tf.random.stateless_uniform([batch], label_seed, 0, num_classes, tf.int32)
            return images, labels

        return tf.data.Dataset.range(start_step, tf.int64.max).map(make).prefetch(2)

    return input_fn


def finish(dataset, load, batch_size, threads, drop_remainder, sharded, batch_fn=None,
           first_batch=0, carry=None, check=None, name=None):
    """Parallel decode (order kept, a placeholder for what fails: ``decode_or_placeholder``),
    [``check(image, label, valid, *carried) -> (image, label)``,] batch,
    [``batch_fn(n, batch)``, ``n`` counting batches from ``first_batch``,] prefetch, options."""
    parallel = _num_parallel_calls(threads)
    dataset = decode_or_placeholder(dataset, load, parallel, carry, name)
    dataset = dataset.map(check or (lambda image, label, valid: (image, label)))
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if batch_fn is not None:
        dataset = dataset.enumerate(first_batch).map(batch_fn, num_parallel_calls=parallel,
                                                    deterministic=True)
    dataset = dataset.prefetch(tf.data.AUTOTUNE if parallel == tf.data.AUTOTUNE else 2)
    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = parallel == tf.data.AUTOTUNE
    if sharded is not None:
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)


def decode_or_placeholder(dataset, load, num_parallel_calls, carry=None, name=None):
    """``load(*element) -> (image, label)`` on each element, in parallel and in order, as
    ``(image, label, valid, *carry(*element))``; where ``load`` fails (a corrupt or truncated
    image, a record that does not parse, a file gone) the element becomes ``(zeros, -1, False)``
    instead of being dropped, so no later element moves (the trainer's loss and metrics skip
    class id -1, and count it), and ``name(*element)`` (a string; none when empty) is printed to
    stderr in a warning. Each element runs in a one-element data set whose error is dropped and
    replaced."""

    def one(*element):
        carried = tuple(carry(*element)) if carry else ()
        loaded = tf.data.Dataset.from_tensors(element).map(
            lambda *args: (*load(*args), True, *carried)).ignore_errors()
        image_spec = loaded.element_spec[0]
        placeholder = tf.data.Dataset.from_tensors(
            (tf.zeros(image_spec.shape, image_spec.dtype), tf.constant(-1, tf.int32), False,
             *carried))
        if name is not None:
            placeholder = placeholder.map(lambda *fields: _warn_skipped(name(*element), fields))
        return loaded.concatenate(placeholder).take(1)

    return dataset.interleave(one, cycle_length=num_parallel_calls, block_length=1,
                              num_parallel_calls=num_parallel_calls, deterministic=True)


def _warn_skipped(what, fields):
    """``fields``, once a warning naming ``what`` (unless empty) is printed to stderr."""
    def warn():
        tf.print(tf.strings.join([  # one string: tf.print quotes a string among others
            "warning: could not decode ", what, "; skipped (its place in the batch is left out "
            "of the loss)."]), output_stream=sys.stderr)
        return tf.constant(True)

    printed = tf.cond(tf.strings.length(what) > 0, warn, lambda: tf.constant(False))
    with tf.control_dependencies([printed]):
        return tuple(tf.identity(field) for field in fields)


def default_threads():
    """Decode threads: autotune with an accelerator, else ``max(1, cpu_count // 2)``."""
    if tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"):
        return AUTOTUNE
    return max(1, (os.cpu_count() or 2) // 2)


def _num_parallel_calls(threads):
    threads = default_threads() if threads is None else threads
    if threads == AUTOTUNE:
        return tf.data.AUTOTUNE
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, None or {AUTOTUNE!r}, got {threads!r}.")
    return threads


def sharding(input_context, global_batch_size):
    """``(num_input_pipelines, input_pipeline_id, batch size per replica)``."""
    if input_context is None:
        return 1, 0, global_batch_size
    num_pipelines = input_context.num_input_pipelines
    if global_batch_size % input_context.num_replicas_in_sync:
        raise ValueError(f"Global batch size {global_batch_size} is not divisible by the "
                         f"{input_context.num_replicas_in_sync} replicas; pick a multiple.")
    return (num_pipelines, input_context.input_pipeline_id,
            input_context.get_per_replica_batch_size(global_batch_size))


def _check_inputs(files, labels, image_size, batch_size, mean, std, channel_order):
    _check_files(files, labels)
    check_common(image_size, batch_size, mean, std, channel_order)


def _check_files(files, labels):
    if len(files) == 0:
        raise ValueError("No image files given to the input pipeline.")
    if len(files) != len(labels):
        raise ValueError(f"Got {len(files)} files but {len(labels)} labels; they must match.")


def check_common(image_size, batch_size, mean, std, channel_order):
    if int(image_size) < 1 or int(batch_size) < 1:
        raise ValueError(f"image_size and batch size must be positive, got {image_size} and "
                         f"{batch_size}.")
    if channel_order not in ("RGB", "BGR"):
        raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {channel_order!r}.")
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ValueError(f"mean and std need 3 values each (std > 0), got {mean} and {std}.")
