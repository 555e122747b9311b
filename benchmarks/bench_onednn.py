"""TensorFlow's oneDNN kernels against its default (Eigen) kernels: forward+backward images/s.

    python benchmarks/bench_onednn.py
    python benchmarks/bench_onednn.py --models resnet18:32:64,mobilenet_v2_100:128:32

TF reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it is imported, and on x86 turns oneDNN on by default
only for CPUs with AVX-512 VNNI/BF16 or AMX. So the two settings cannot share a process: each
model is timed in child processes, one per setting, alternating (off, on, off, on, ...) so that a
change of machine load hits both; the fastest run of each setting counts. "ratio" is oneDNN's
img/s over Eigen's. A step is forward in training mode, cross-entropy and the gradients of every
trainable variable on one constant batch (no optimizer update, no input pipeline).
"""
import argparse
import json
import os
import subprocess
import sys
import time

DEFAULT_MODELS = ("resnet18:32:64,resnet50:64:32,mobilenet_v2_100:128:32,efficientnet_b0:128:32,"
                  "inception_v3:160:16,densenet121:128:32,convnext_tiny:64:32")


def child(name, size, batch, steps):
    """Time ``steps`` steps of one model in this process; print img/s as JSON."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    import tfcls
    from _steps import forward_backward_step

    model = tfcls.create_model(name, input_size=size)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(batch, size, size, 3)).astype(np.float32))
    labels = tf.constant(rng.integers(0, 1000, batch).astype(np.int32))

    step = forward_backward_step(model, images, labels)

    step().numpy()  # trace and warm up
    began = time.perf_counter()
    for _ in range(steps):
        total = step()
    total.numpy()
    print(json.dumps({"img_per_s": steps * batch / (time.perf_counter() - began)}))


def run_child(spec, steps, onednn):
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1" if onednn else "0", TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run([sys.executable, __file__, "--child", spec, "--steps", str(steps)],
                         env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["img_per_s"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=DEFAULT_MODELS, help="name:px:batch,...")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, size, batch = args.child.split(":")
        return child(name, int(size), int(batch), args.steps)
    print(f"forward+backward img/s, fastest of {args.repeats} child processes per setting, "
          f"{args.steps} steps each; {os.cpu_count()} CPUs")
    print("| model | px | batch | Eigen (oneDNN off) | oneDNN on | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for spec in args.models.split(","):
        best = {False: 0.0, True: 0.0}
        for _ in range(args.repeats):
            for onednn in (False, True):
                best[onednn] = max(best[onednn], run_child(spec, args.steps, onednn))
        name, size, batch = spec.split(":")
        print(f"| {name} | {size} | {batch} | {best[False]:.1f} | {best[True]:.1f} | "
              f"{best[True] / best[False]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
