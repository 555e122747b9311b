"""Images/s of the training input pipeline alone, with a recipe's augmentations:

    python -m launch.benchmark_input --data_dir=<image folder> --img_size=224 \\
        --randaugment_ops=2 --randaugment_magnitude=9 --random_erasing=0.25
    python -m launch.benchmark_input --data_dir=gs://bucket/imagenet --label_offset=1 \
        --num_classes=1000 --img_size=224 --randaugment_ops=2
    python -m launch.benchmark_input --synthetic --img_size=224

Builds the same pipeline as ``launch.train`` (decode, random-resized crop, flip, the augmentation
flags, normalization for ``--model``, batching, mixup/cutmix), pulls ``--warmup_batches`` batches,
then times ``--batches`` more. Compare with the model's training step rate: the input should
deliver well above it.
"""
import time

from absl import flags

from launch import data as launch_data
from launch.common import SETUP_ERRORS, UserError, fail, quiet_logs, run_tool
from launch.flags import FLAGS, define_data_flags

define_data_flags()
flags.DEFINE_string("model", "resnet50", "Model whose input normalization the pipeline applies.")
flags.DEFINE_integer("img_size", 224, "Training image side in px.")
flags.DEFINE_integer("batch_size", 64, "Global batch size.")
flags.DEFINE_integer("batches", 30, "Batches to time.")
flags.DEFINE_integer("warmup_batches", 5, "Batches pulled before timing (tracing, caches).")
flags.DEFINE_bool("synthetic", False, "Random tensors of the right shape instead of --data_dir.")
flags.DEFINE_integer("seed", 0, "Seed of shuffling and augmentation.")
flags.DEFINE_integer("num_classes", None, "Classes of TFRecord shards without classes.txt.")


def build_input(flags_):
    """``(dataset, description)`` of the flags' training input."""
    import tfcls
    if flags_.img_size < 1 or flags_.batch_size < 1 or flags_.batches < 1 or (
            flags_.warmup_batches < 0):
        raise UserError("--img_size, --batch_size and --batches must be positive and "
                        "--warmup_batches >= 0.")
    if flags_.synthetic:
        input_fn = tfcls.data.build_synthetic_input_fn(
            image_size=flags_.img_size, global_batch_size=flags_.batch_size, num_classes=1000,
            seed=flags_.seed)
        return input_fn(), "synthetic"
    source = launch_data.open_data(flags_.data_dir, flags_.data, 0.0, flags_.seed,
                                   flags_.label_offset, flags_.tfds_data_dir, flags_.num_classes,
                                   flags_.shuffle_buffer)
    num_classes = len(source.class_names)
    model = tfcls.create_model(flags_.model, num_classes=num_classes)  # for its mean/std
    scale = flags_.min_crop_scale if flags_.min_crop_scale is not None else 0.08
    augmentation = launch_data.augmentation_args(flags_, num_classes)
    input_fn = source.train_input_fn(model, flags_.img_size, flags_.batch_size, flags_.seed,
                                     scale, flags_.threads, **augmentation)
    return input_fn(), source.description


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}")
    quiet_logs()
    try:
        dataset, description = build_input(FLAGS)
    except SETUP_ERRORS as err:
        fail(str(err))
    iterator = iter(dataset)
    for _ in range(FLAGS.warmup_batches):
        next(iterator)
    began = time.perf_counter()
    for _ in range(FLAGS.batches):
        images, _ = next(iterator)
    images.numpy()
    seconds = time.perf_counter() - began
    rate = FLAGS.batches * FLAGS.batch_size / seconds
    print(f"{description}: {FLAGS.batches} batches of {FLAGS.batch_size} at {FLAGS.img_size} px "
          f"in {seconds:.1f} s: {rate:.1f} images/s", flush=True)


if __name__ == "__main__":
    run_tool(main)
