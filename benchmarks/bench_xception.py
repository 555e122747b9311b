"""Forward + backward throughput of tfcls' Xception vs its keras twin, in one process.

    python benchmarks/bench_xception.py --img_size 160 --batch 16 --steps 10

Both models get the same constant batch and the same step: logits, cross-entropy, gradients (no
optimizer update, no input pipeline), float32, in a ``tf.function``. Each is timed ``--repeats``
times over ``--steps`` steps after a warm-up, the two interleaved; the fastest repeat
counts. Prints images/s and the tfcls / keras ratio.
"""
import argparse
import time

import numpy as np
import tensorflow as tf
import tf_keras

import tfcls


def make_run(model, images, labels, steps):
    """A function that runs ``steps`` forward+backward steps and returns their wall time."""
    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = tf.cast(model(images, training=True), tf.float32)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        return tape.gradient(loss, model.trainable_variables)

    def run():
        began = time.perf_counter()
        for _ in range(steps):
            grads = step()
        float(tf.reduce_sum(grads[0]))  # wait for the last step
        return time.perf_counter() - began

    run()  # trace and warm up
    return run


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
    runs = {"tfcls": make_run(ours, images, labels, args.steps),
            "keras": make_run(keras_twin, images, labels, args.steps)}
    best = {name: float("inf") for name in runs}
    for _ in range(args.repeats):  # interleaved, so that a change of machine load hits both
        for name, run in runs.items():
            best[name] = min(best[name], run())
    rates = {name: args.steps * args.batch / seconds for name, seconds in best.items()}
    print(f"xception fwd+bwd, {size} px, batch {args.batch}, float32")
    print("| model | img/s |\n|---|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.1f} |")
    print(f"tfcls / keras: {rates['tfcls'] / rates['keras']:.3f}")


if __name__ == "__main__":
    main()
