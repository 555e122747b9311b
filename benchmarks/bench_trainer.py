"""Training throughput of ``trainers.Trainer`` vs ``model.fit`` vs a bare ``tf.function`` step.

    python benchmarks/bench_trainer.py --model resnet50 --img_size 128 --batch 32 --steps 20

All runs train the same model with the same optimizer in one process, on the same in-memory
batches, except "image files", which reads the images from disk through tfcls.data's pipeline.
The bare step (forward, backward, update on one constant batch, no input pipeline, no EMA) is
the ceiling; ratios are images/s relative to it. "cores" is process CPU time / wall time. Each
run is timed ``--repeats`` times and the fastest segment counts.
"""
import argparse
import os
import time

import tfcls  # noqa: E402, I001  (first: it sets the environment TensorFlow reads when it loads)
import numpy as np
import tensorflow as tf
import tf_keras

import trainers
import trainers.config
from tfcls import data as tfcls_data
from tfcls.optim import classification_loss, create_optimizer


def measure(fn):
    """``(seconds, cores busy)`` of ``fn()``."""
    cpu0, wall0 = os.times(), time.perf_counter()
    fn()
    wall = time.perf_counter() - wall0
    cpu1 = os.times()
    busy = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / max(wall, 1e-9)
    return wall, busy


def synthetic_data(args, num_classes):
    rng = np.random.default_rng(0)
    count = args.batch * 4
    images = rng.normal(size=(count, args.img_size, args.img_size, 3)).astype(np.float32)
    labels = rng.integers(0, num_classes, count).astype(np.int32)
    data = tf.data.Dataset.from_tensor_slices((images, labels))
    return data.batch(args.batch, drop_remainder=True).cache().repeat(), images, labels


def image_folder_input_fn(args, model):
    """The real input pipeline: decode + random-resized crop + flip from image files on disk
    (the built-in shapes data set, or ``--data_dir``)."""
    root = args.data_dir or tfcls_data.make_shapes_dataset()
    files, labels, _, _, _, _ = tfcls_data.load_image_folder(root)
    cfg = model.pretrained_cfg
    return tfcls_data.build_train_input_fn(
        files, labels, image_size=args.img_size, global_batch_size=args.batch, mean=cfg["mean"],
        std=cfg["std"], channel_order=cfg["channel_order"], scale=(0.35, 1.0))


def bench_bare(model, args, images, labels):
    optimizer = create_optimizer("sgd", 0.01)
    x, y = tf.constant(images[:args.batch]), tf.constant(labels[:args.batch])

    @tf.function(jit_compile=args.jit)
    def step():
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(classification_loss(y, logits, num_classes=logits.shape[-1]))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    for _ in range(args.warmup):
        step()
    return [measure(lambda: [step() for _ in range(args.steps)][-1].numpy())
            for _ in range(args.repeats)]


def bench_fit(model, args, data):
    model.compile(optimizer=create_optimizer("sgd", 0.01), jit_compile=args.jit,
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data, steps_per_epoch=args.warmup, epochs=1, verbose=0)
    return [measure(lambda: model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0))
            for _ in range(args.repeats)]


def bench_trainer(model, args, data, ema_decay, accum):
    config = trainers.TrainConfig.from_flat(
        total_steps=args.warmup + args.steps * args.repeats, global_batch_size=args.batch,
        optimizer="sgd", learning_rate=0.01, schedule="constant", ema_decay=ema_decay,
        grad_accum_steps=accum, steps_per_loop=args.steps, jit_compile=args.jit,
        precision=args.precision)
    trainer = trainers.ClassificationTrainer(model, config)
    trainer.on_loop_end = lambda step, logs: None
    trainer.train(data, num_steps=args.warmup)
    return [measure(lambda: trainer.train(data, num_steps=args.steps))
            for _ in range(args.repeats)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--img_size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed segments per run; the fastest counts (other load on the "
                             "machine only slows a run down)")
    parser.add_argument("--num_classes", type=int, default=1000)
    parser.add_argument("--precision", default="float32", choices=trainers.config.PRECISIONS)
    parser.add_argument("--jit", action="store_true", help="XLA (default off, as on CPU)")
    parser.add_argument("--skip", default="", help="comma list of runs to skip: fit,accum,files")
    parser.add_argument("--data_dir", default=None, help="image folder for the real-pipeline "
                        "run (default: the built-in shapes data set)")
    args = parser.parse_args()
    tf_keras.mixed_precision.set_global_policy(args.precision)
    model = tfcls.create_model(args.model, num_classes=args.num_classes, input_size=args.img_size)
    data, images, labels = synthetic_data(args, args.num_classes)
    skip = set(filter(None, args.skip.split(",")))

    runs = {"bare step (ceiling)": lambda: bench_bare(model, args, images, labels)}
    if "fit" not in skip:
        runs["model.fit"] = lambda: bench_fit(model, args, data)
    runs["Trainer, EMA on"] = lambda: bench_trainer(model, args, data, 0.9999, 1)
    if "files" not in skip:
        runs["Trainer, EMA, image files"] = lambda: bench_trainer(
            model, args, image_folder_input_fn(args, model), 0.9999, 1)
    runs["Trainer, no EMA"] = lambda: bench_trainer(model, args, data, 0.0, 1)
    if "accum" not in skip:
        runs["Trainer, EMA + accum 2"] = lambda: bench_trainer(model, args, data, 0.9999, 2)

    print(f"{args.model} {args.img_size}px batch {args.batch} {args.precision} "
          f"jit={args.jit} steps={args.steps} CPUs={os.cpu_count()} "
          f"devices={[d.device_type for d in tf.config.list_logical_devices()]}")
    results = {}
    for name, run in runs.items():
        seconds, cores = min(run())
        results[name] = args.steps * args.batch / seconds
        ratio = results[name] / results["bare step (ceiling)"]
        print(f"{name:26s} {results[name]:8.1f} img/s   x{ratio:.3f} of bare   "
              f"{cores:.2f} cores busy", flush=True)
    if "model.fit" in results:
        ratio = results["Trainer, EMA on"] / results["model.fit"]
        print(f"Trainer (EMA) / model.fit: x{ratio:.3f}")
    if "Trainer, EMA + accum 2" in results:
        overhead = 1 - results["Trainer, EMA + accum 2"] / results["Trainer, no EMA"]
        print(f"EMA + accumulation overhead vs plain Trainer: {100 * overhead:.1f}%")


if __name__ == "__main__":
    main()
