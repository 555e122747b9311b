"""Forward + backward throughput of tfcls' Inception-v3 vs its tf_keras.applications twin.

    python benchmarks/bench_inception.py --img_size 160 --batch 16 --steps 10

Both models run the same ``tf.function`` step (forward in training mode, cross-entropy, gradients;
no optimizer update) on the same constant float32 batch in one process, alternating, each timed
``--repeats`` times; the fastest run counts. Prints images/s and the tfcls / keras ratio.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

import tfcls  # noqa: E402

PAIRS = {"inception_v3": "InceptionV3", "inception_resnet_v2": "InceptionResNetV2"}


def make_step(model, images, labels):
    loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(jit_compile=False)
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        return tape.gradient(loss, model.trainable_variables)

    return step


def images_per_second(step, batch, steps, repeats):
    step()  # trace and warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            grads = step()
        tf.nest.map_structure(lambda g: g.numpy() if g is not None else None, grads[-1:])
        best = min(best, time.perf_counter() - start)
    return batch * steps / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="inception_v3", choices=sorted(PAIRS))
    parser.add_argument("--img_size", type=int, default=160)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    size = args.img_size
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(args.batch, size, size, 3)).astype(np.float32))
    labels = tf.constant(rng.integers(0, 1000, args.batch).astype(np.int32))
    ours = tfcls.create_model(args.model, input_size=size)
    keras = getattr(tf_keras.applications, PAIRS[args.model])(
        weights=None, input_shape=(size, size, 3), classifier_activation=None)
    rates = {}
    for name, model in (("tfcls", ours), ("keras", keras)):
        rates[name] = images_per_second(make_step(model, images, labels), args.batch, args.steps,
                                        args.repeats)
    print("| model | px | batch | tfcls img/s | keras img/s | tfcls / keras |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| {args.model} | {size} | {args.batch} | {rates['tfcls']:.1f} | "
          f"{rates['keras']:.1f} | {rates['tfcls'] / rates['keras']:.2f} |")


if __name__ == "__main__":
    main()
