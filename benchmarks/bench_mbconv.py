"""Forward+backward throughput of tfcls' MobileNet v2 / v3 and EfficientNet-B0 vs their
tf_keras.applications twins, measured in one process on the same constant batch.

    PYTHONPATH=. python benchmarks/bench_mbconv.py --img_size 128 --batch 32 --steps 10

For each model and precision (float32, mixed_bfloat16) both networks compute the loss and the
gradients of every trainable variable inside one ``tf.function`` (no optimizer update, no input
pipeline); the fastest of ``--repeats`` timed segments counts. The ratio is tfcls img/s over
keras img/s. keras' MobileNetV3 and EfficientNet rescale/normalize inside the model (a few cheap
ops); tfcls models take normalized input. The keras twins run with their default drop connect
(EfficientNet: 0.2, as Dropout layers in training mode) while tfcls models are built with
drop_path_rate 0, so the EfficientNet ratio is not like for like.
"""
import argparse
import time

import numpy as np
import tensorflow as tf
import tf_keras

import tfcls

PAIRS = [("mobilenet_v2_100", "MobileNetV2"), ("mobilenet_v3_large_100", "MobileNetV3Large"),
         ("efficientnet_b0", "EfficientNetB0")]


def images_per_second(model, images, labels, steps, repeats):
    variables = model.trainable_variables

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = tf.cast(model(x, training=True), tf.float32)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(
                y, logits, from_logits=True))
        return loss, tape.gradient(loss, variables)

    step(images, labels)  # trace + warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            loss, grads = step(images, labels)
        loss.numpy()
        best = min(best, time.perf_counter() - start)
    return steps * images.shape[0] / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--img_size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--precisions", default="float32,mixed_bfloat16")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(args.batch, args.img_size, args.img_size, 3)),
                         tf.float32)
    labels = tf.constant(rng.integers(0, 1000, args.batch), tf.int32)
    print(f"forward+backward, {args.img_size} px, batch {args.batch}, img/s (best of "
          f"{args.repeats} x {args.steps} steps)")
    print(f"{'model':<24} {'precision':<15} {'tfcls':>8} {'keras':>8} {'ratio':>6}")
    for precision in args.precisions.split(","):
        for name, keras_name in PAIRS:
            tf_keras.backend.clear_session()
            tf_keras.mixed_precision.set_global_policy(precision)
            ours = tfcls.create_model(name, input_size=args.img_size)
            theirs = getattr(tf_keras.applications, keras_name)(
                weights=None, input_shape=(args.img_size, args.img_size, 3),
                classifier_activation=None)
            ours_ips = images_per_second(ours, images, labels, args.steps, args.repeats)
            keras_ips = images_per_second(theirs, images, labels, args.steps, args.repeats)
            print(f"{name:<24} {precision:<15} {ours_ips:>8.1f} {keras_ips:>8.1f} "
                  f"{ours_ips / keras_ips:>6.2f}", flush=True)
    tf_keras.mixed_precision.set_global_policy("float32")


if __name__ == "__main__":
    main()
