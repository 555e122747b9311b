"""Stride-1 convolutions padded inside the conv kernel vs an explicit ZeroPadding2D, one process:

    python benchmarks/bench_padding.py [--model resnet18] [--img_size 32] [--batch 64]

Builds the model twice with the same weights: as tfcls builds it (a stride-1 conv with an odd
kernel uses TF's "same" padding, which pads (k - 1) // 2 on both sides as PyTorch does) and with
every symmetric padding done by a ZeroPadding2D before a "valid" conv (the baseline: a padded copy
of each map forward, a slice of its gradient backward). Times a forward+backward step (training
mode, cross-entropy, every gradient) on a constant batch, alternating, fastest of 3 segments, and
prints both gradient sums (the same weights give the same gradients).
"""
import argparse
import time
from unittest import mock

import tfcls  # noqa: I001  (first: it sets the environment TensorFlow reads when it loads)
import numpy as np
import tensorflow as tf
import tf_keras

from tfcls.layers import conv

from _steps import forward_backward_step


def explicit_padding_layer(kernel_size, strides=1, dilation_rate=1):
    pad = conv.symmetric_padding(kernel_size, dilation_rate)
    if pad in (0, (0, 0)):
        return None, "valid"
    return tf_keras.layers.ZeroPadding2D(pad, name="pad"), "valid"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--img_size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    fast = tfcls.create_model(args.model, num_classes=10, input_size=args.img_size)
    with mock.patch.object(conv, "symmetric_padding_layer", explicit_padding_layer):
        import tfcls.models.dpn as dpn  # noqa: F401  (DPN imported the name itself)
        with mock.patch.object(dpn, "symmetric_padding_layer", explicit_padding_layer):
            padded = tfcls.create_model(args.model, num_classes=10, input_size=args.img_size)
    padded.set_weights(fast.get_weights())
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(args.batch, args.img_size, args.img_size, 3)),
                         tf.float32)
    labels = tf.constant(rng.integers(0, 10, args.batch), tf.int32)
    steps = {"explicit ZeroPadding2D (baseline)": forward_backward_step(padded, images, labels),
             "padding inside the conv": forward_backward_step(fast, images, labels)}
    sums = {name: float(step()) for name, step in steps.items()}
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(3):
        for name, step in steps.items():
            began = time.perf_counter()
            for _ in range(args.steps):
                out = step()
            out.numpy()
            best[name] = min(best[name], (time.perf_counter() - began) / args.steps)
    baseline = best["explicit ZeroPadding2D (baseline)"]
    print(f"{args.model} {args.img_size}px batch {args.batch}, forward+backward; gradient sums "
          f"{', '.join(f'{v:.6f}' for v in sums.values())}")
    for name, seconds in best.items():
        print(f"{name:36s} {args.batch / seconds:8.1f} img/s  x{baseline / seconds:.2f}")


if __name__ == "__main__":
    main()
