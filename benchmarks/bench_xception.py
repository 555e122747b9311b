"""Forward + backward throughput of tfcls' Xception vs its keras twin, in one process.

    python benchmarks/bench_xception.py --img_size 160 --batch 16 --steps 10

Both models get the same constant batch and the same step: logits, cross-entropy, gradients (no
optimizer update, no input pipeline), float32, in a ``tf.function``. Each is timed ``--repeats``
times over ``--steps`` steps after a warm-up; the fastest repeat counts. Prints images/s and the
tfcls / keras ratio.
"""
import argparse
import time

import numpy as np
import tensorflow as tf
import tf_keras

import tfcls


def images_per_second(model, images, labels, steps, repeats):
    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = tf.cast(model(images, training=True), tf.float32)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        return tape.gradient(loss, model.trainable_variables)

    def run():
        for _ in range(steps):
            grads = step()
        float(tf.reduce_sum(grads[0]))  # wait for the last step

    run()  # trace and warm up
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return steps * int(images.shape[0]) / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--img_size", type=int, default=160)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    size = args.img_size
    images = tf.constant(rng.normal(size=(args.batch, size, size, 3)).astype(np.float32))
    labels = tf.constant(rng.integers(0, 1000, args.batch).astype(np.int32))
    ours = tfcls.create_model("xception", input_size=size)
    keras_twin = tf_keras.applications.Xception(weights=None, input_shape=(size, size, 3),
                                                classifier_activation=None)
    rates = {"tfcls": images_per_second(ours, images, labels, args.steps, args.repeats),
             "keras": images_per_second(keras_twin, images, labels, args.steps, args.repeats)}
    print(f"xception fwd+bwd, {size} px, batch {args.batch}, float32")
    print("| model | img/s |\n|---|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.1f} |")
    print(f"tfcls / keras: {rates['tfcls'] / rates['keras']:.3f}")


if __name__ == "__main__":
    main()
