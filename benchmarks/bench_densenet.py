"""DenseNet: tfcls vs keras.applications forward+backward speed, and what the memory-efficient
dense layers (bottlenecks recomputed in the backward pass) cost in speed and save in memory.

    python benchmarks/bench_densenet.py --img_size 128 --batch 32 --steps 5

Speed: one process, the same constant batch, a compiled ``tf.function`` computing the loss and
the gradients of every trainable variable (no optimizer update), best of ``--repeats`` segments of
``--steps`` steps, in images/s; "ratio" is relative to keras' DenseNet121.

Memory: each configuration runs in its own subprocess (TF's CPU allocator has no peak-memory
counter: ``tf.config.experimental.get_memory_info`` is GPU-only and tracemalloc does not see
TF's C++ allocations), which reports its peak resident set size (``ru_maxrss``) after building the
model and after the training steps; the growth between the two is the activation memory of a
forward+backward pass (plus TF's workspace), measured by the operating system. It is an upper
bound (RSS counts freed-but-cached allocator pages); the difference between the two rows is what
the recomputation saves.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import tfcls  # noqa: E402, I001  (first: it sets the environment TensorFlow reads when it loads)
import numpy as np
import tensorflow as tf
import tf_keras


def build(kind, img_size):
    if kind == "keras":
        return tf_keras.applications.DenseNet121(weights=None, input_shape=(img_size, img_size, 3),
                                                 classifier_activation=None)
    return tfcls.create_model("densenet121", input_size=img_size,
                              memory_efficient=kind == "tfcls memory_efficient")


def train_step_fn(model):
    loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        return loss, tf.add_n([tf.reduce_sum(g) for g in grads])
    return step


def batch(args):
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(args.batch, args.img_size, args.img_size, 3)),
                         tf.float32)
    return images, tf.constant(rng.integers(0, 1000, args.batch), tf.int32)


def speed(kind, args):
    step, data = train_step_fn(build(kind, args.img_size)), batch(args)
    step(*data)  # trace and warm up
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            step(*data)[0].numpy()
        best = min(best, time.perf_counter() - start)
    return args.steps * args.batch / best


def peak_rss_mb():
    """This process's peak resident set (Linux VmHWM; unlike getrusage's ru_maxrss, it is not
    inherited from the parent across fork+exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(kind, args):
    model = build(kind, args.img_size)
    step, data = train_step_fn(model), batch(args)
    built = peak_rss_mb()
    for _ in range(args.steps):
        step(*data)[0].numpy()
    print(json.dumps({"built_mb": built, "peak_mb": peak_rss_mb()}))


def memory(kind, args):
    command = [sys.executable, __file__, "--child", kind, "--img_size", str(args.img_size),
               "--batch", str(args.batch), "--steps", str(args.memory_steps)]
    out = subprocess.run(command, check=True, capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--img_size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--memory_steps", type=int, default=2)
    parser.add_argument("--skip_memory", action="store_true")
    parser.add_argument("--skip_speed", action="store_true")
    args = parser.parse_args()
    if args.child:
        return memory_child(args.child, args)
    kinds = ["keras DenseNet121", "tfcls", "tfcls memory_efficient"]
    print(f"densenet121, {args.img_size} px, batch {args.batch}, forward+backward")
    if not args.skip_memory:  # first, while this process is small
        print(f"{'model (own subprocess)':<26}{'built MB':>10}{'peak MB':>10}{'growth MB':>11}")
        for kind in kinds:
            result = memory(kind.split()[0] if kind.startswith("keras") else kind, args)
            print(f"{kind:<26}{result['built_mb']:10.0f}{result['peak_mb']:10.0f}"
                  f"{result['peak_mb'] - result['built_mb']:11.0f}", flush=True)
    if args.skip_speed:
        return
    rates = {kind: speed(kind.split()[0] if kind.startswith("keras") else kind, args)
             for kind in kinds}
    print(f"\n{'model':<26}{'img/s':>8}{'ratio':>8}")
    for kind, rate in rates.items():
        print(f"{kind:<26}{rate:8.1f}{rate / rates[kinds[0]]:8.2f}")


if __name__ == "__main__":
    main()
