"""tfcls models against their tf_keras.applications twins: forward+backward images/s, one process.

    python benchmarks/bench_vs_keras.py                    # every pair, float32 and mixed_bfloat16
    python benchmarks/bench_vs_keras.py --models efficientnet_b0,xception --precisions float32

For each model and precision both networks are built, each gets one ``tf.function`` step (forward
in training mode, cross-entropy, the gradients of every trainable variable; no optimizer update,
no input pipeline) on the same constant batch, and both are warmed up. Then ``--repeats`` timed
segments of ``--steps`` steps run alternately, tfcls then keras, so that a change of machine load
hits both; the fastest segment of each counts. "ratio" is tfcls img/s over keras img/s; "bf16 x" is
a model's mixed_bfloat16 speed over its float32 speed.

Like for like: keras' EfficientNet drops connections at rate 0.2 in training, so tfcls'
EfficientNet is built with drop_path_rate 0.2; classifier dropout is 0.2 on both sides where keras
has it. keras' EfficientNet, MobileNetV3 and ConvNeXt normalize inside the model (a few cheap
elementwise ops that tfcls leaves to the input pipeline); both sides get the same tensor.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tfcls  # noqa: E402, I001  (first: it sets the environment TensorFlow reads when it loads)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from _steps import forward_backward_step  # noqa: E402
from tfcls.registry import model_entry  # noqa: E402

# tfcls name: (image size, batch), the sizes the zoo issues ask for
PAIRS = {
    "mobilenet_v2_100": (128, 32), "mobilenet_v3_large_100": (128, 32),
    "efficientnet_b0": (128, 32), "inception_v3": (160, 16), "xception": (160, 16),
    "densenet121": (128, 32), "convnext_tiny": (128, 32),
}
OURS_KWARGS = {"efficientnet_b0": {"drop_path_rate": 0.2}}  # keras' drop_connect_rate default


def timed_segments(model, images, labels, steps):
    """A function running ``steps`` forward+backward steps and returning their wall time."""
    step = forward_backward_step(model, images, labels)

    def segment():
        began = time.perf_counter()
        for _ in range(steps):
            total = step()
        total.numpy()  # wait for the last step
        return time.perf_counter() - began

    segment()  # trace and warm up
    return segment


def compare(name, precision, steps, repeats):
    size, batch = PAIRS[name]
    row = model_entry(name).variant
    tf_keras.backend.clear_session()
    tf_keras.mixed_precision.set_global_policy(precision)
    try:
        ours = tfcls.create_model(name, input_size=size, **OURS_KWARGS.get(name, {}))
        theirs = getattr(tf_keras.applications, row.keras_twin)(
            weights=None, input_shape=(size, size, 3), classifier_activation=None,
            **row.keras_kwargs)
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(batch, size, size, 3)).astype(np.float32))
    labels = tf.constant(rng.integers(0, 1000, batch).astype(np.int32))
    segments = {"tfcls": timed_segments(ours, images, labels, steps),
                "keras": timed_segments(theirs, images, labels, steps)}
    best = {side: float("inf") for side in segments}
    for _ in range(repeats):
        for side, segment in segments.items():
            best[side] = min(best[side], segment())
    return {side: steps * batch / seconds for side, seconds in best.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(PAIRS))
    parser.add_argument("--precisions", default="float32,mixed_bfloat16")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    precisions = args.precisions.split(",")
    print(f"forward+backward img/s, fastest of {args.repeats} interleaved segments of "
          f"{args.steps} steps; {os.cpu_count()} CPUs")
    print("| model | px | batch | precision | tfcls | keras | ratio | bf16 x |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for name in args.models.split(","):
        fp32 = None
        for precision in precisions:
            rates = compare(name, precision, args.steps, args.repeats)
            size, batch = PAIRS[name]
            if precision == "float32":
                fp32 = rates["tfcls"]
            bf16_x = f"{rates['tfcls'] / fp32:.2f}" if fp32 and precision != "float32" else ""
            print(f"| {name} | {size} | {batch} | {precision} | {rates['tfcls']:.1f} | "
                  f"{rates['keras']:.1f} | {rates['tfcls'] / rates['keras']:.2f} | {bf16_x} |",
                  flush=True)


if __name__ == "__main__":
    main()
