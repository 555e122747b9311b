"""Input pipeline images/s beside ResNet-50's training step rate, one process:

    python benchmarks/bench_input.py [--images 300] [--img_size 224] [--batch 32]

Writes ``--images`` 500x375 JPEGs (smooth colour fields plus noise, 10 class folders) to a
temporary folder and into 8 TFRecord shards (``write_shards``, as ``launch.make_tfrecords``),
then times (1) the training input pipeline, from the folder and from the shards (parallel
interleave, windowed shuffle of ``--shuffle_buffer`` records), with the RandAugment recipe
(2 ops, magnitude 9, std 0.5; random erasing 0.25; random-resized crop 0.08-1; flip) at
``--img_size`` with its default decode threads, and (2) ResNet-50's forward+backward step on a
constant batch (training mode, every gradient; no optimizer). The ratio says how many times
faster the input is than the step that consumes it (>= 2 keeps the input from limiting training).
"""
import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tfcls  # noqa: E402, I001  (first: it sets the environment TensorFlow reads when it loads)
import tfcls.data  # noqa: E402
import tfcls.data.tfrecord  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from _steps import forward_backward_step  # noqa: E402


def write_jpegs(root, count, rng):
    files, labels = [], []
    yy, xx = np.mgrid[0:375, 0:500] / 500.0
    for i in range(count):
        label = i % 10
        a, b, c = rng.uniform(0, 1, 3)
        field = np.stack([np.sin(6 * a * xx + 3 * b * yy), np.cos(5 * b * yy + 4 * c * xx),
                          np.sin(4 * c * (xx + yy))], -1)
        pixels = np.clip(127 + 90 * field + rng.normal(0, 12, field.shape), 0, 255)
        path = os.path.join(root, f"class{label}", f"{i}.jpg")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(pixels.astype(np.uint8)).save(path, quality=90)
        files.append(path)
        labels.append(label)
    return files, labels


RECIPE = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
              rand_augment=(2, 9.0, 0.5), random_erasing=0.25)


def input_rate(input_fn, batches=20):
    iterator = iter(input_fn())
    for _ in range(3):
        next(iterator)
    began = time.perf_counter()
    for _ in range(batches):
        images, _ = next(iterator)
    images.numpy()
    return batches * int(images.shape[0]) / (time.perf_counter() - began)


def step_rate(size, batch, steps=6):
    model = tfcls.create_model("resnet50", input_size=size)
    images = tf.random.stateless_normal([batch, size, size, 3], [0, 0])
    labels = tf.zeros([batch], tf.int32)

    step = forward_backward_step(model, images, labels)

    step().numpy()
    best = float("inf")
    for _ in range(2):
        began = time.perf_counter()
        for _ in range(steps):
            total = step()
        total.numpy()
        best = min(best, time.perf_counter() - began)
    return steps * batch / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--img_size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--shuffle_buffer", type=int, default=tfcls.data.DEFAULT_SHUFFLE_BUFFER)
    args = parser.parse_args()
    options = dict(image_size=args.img_size, global_batch_size=args.batch, **RECIPE)
    with tempfile.TemporaryDirectory() as root:
        files, labels = write_jpegs(root, args.images, np.random.default_rng(0))
        shards = os.path.join(root, "shards")
        tfcls.data.tfrecord.write_shards(files, labels, shards, "train", 8, shuffle_seed=0)
        folder_rate = input_rate(tfcls.data.build_train_input_fn(files, labels, **options))
        record_rate = input_rate(tfcls.data.build_records_input_fn(
            tfcls.data.TFRecordSource(shards), num_classes=10,
            shuffle_buffer=args.shuffle_buffer, **options))
    consumed = step_rate(args.img_size, args.batch)
    print(f"{os.cpu_count()} CPUs, {args.img_size} px, batch {args.batch}, "
          f"{args.images} 500x375 JPEGs")
    print("| what | images/s |\n|---|---:|")
    recipe = "crop + flip + RandAugment(2, 9, 0.5) + erasing 0.25"
    print(f"| input from an image folder: {recipe} | {folder_rate:.1f} |")
    print(f"| input from 8 TFRecord shards: {recipe} | {record_rate:.1f} |")
    print(f"| ResNet-50 forward+backward step | {consumed:.1f} |")
    print(f"input / step: folder {folder_rate / consumed:.2f}x, "
          f"TFRecord shards {record_rate / consumed:.2f}x")


if __name__ == "__main__":
    main()
