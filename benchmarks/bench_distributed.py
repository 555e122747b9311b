"""The distributed path's cost, one process:

    python benchmarks/bench_distributed.py [--model resnet18] [--img_size 64] [--batch 32]

(1) Per-step time of ``Trainer.train`` on one device and on a 2-replica ``MirroredStrategy``
over 2 logical CPUs (the same cores, split), same model, global batch and synthetic input; the
ratio is the overhead of splitting the batch, all-reducing the gradients and updating mirrored
variables (on one machine's cores there is nothing to gain, only that cost to see).
(2) How long a checkpoint save of ResNet-50's training state (weights, SGD momentum, EMA)
blocks the loop (the copy to host numpy; orbax writes in a background thread), beside the whole
write. Every figure is the fastest of ``--repeats``.
"""
import argparse
import tempfile
import time

import tfcls  # noqa: I001  (first: it sets the environment TensorFlow reads when it loads)
import tfcls.data
import tensorflow as tf

import trainers

cpu = tf.config.list_physical_devices("CPU")[0]  # before TensorFlow starts its devices
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def step_seconds(strategy, args, steps):
    config = trainers.TrainConfig.from_flat(
        total_steps=10 ** 6, global_batch_size=args.batch, optimizer="sgd", learning_rate=0.01,
        steps_per_loop=steps, jit_compile=False, ema_decay=0.0)
    trainer = trainers.ClassificationTrainer(
        lambda: tfcls.create_model(args.model, num_classes=100, input_size=args.img_size),
        config, strategy)
    input_fn = tfcls.data.build_synthetic_input_fn(
        image_size=args.img_size, global_batch_size=args.batch, num_classes=100)
    trainer.train(input_fn, num_steps=steps)  # tracing, warm-up
    best = float("inf")
    for _ in range(args.repeats):
        began = time.perf_counter()
        trainer.train(input_fn, num_steps=steps)
        best = min(best, time.perf_counter() - began)
    return best / steps


def checkpoint_seconds(args):
    with tempfile.TemporaryDirectory() as model_dir:
        config = trainers.TrainConfig.from_flat(
            total_steps=100, global_batch_size=8, optimizer="sgd", ema_decay=0.9999,
            model_dir=model_dir, keep_checkpoints=args.repeats + 2, jit_compile=False)
        trainer = trainers.ClassificationTrainer(
            lambda: tfcls.create_model("resnet50", input_size=64), config)
        trainer.optimizer.build(trainer.model.trainable_variables)
        blocking, total = float("inf"), float("inf")
        for step in range(1, args.repeats + 2):
            began = time.perf_counter()
            trainer.checkpoints.save(step)
            returned = time.perf_counter()
            trainer.checkpoints.manager.wait()
            if step > 1:  # the first save creates the directories
                blocking = min(blocking, returned - began)
                total = min(total, time.perf_counter() - began)
        trainer.checkpoints.close()
    return blocking, total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--img_size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    one = step_seconds(tf.distribute.OneDeviceStrategy("/cpu:0"), args, args.steps)
    two = step_seconds(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), args, args.steps)
    blocking, total = checkpoint_seconds(args)
    print(f"{args.model} at {args.img_size} px, global batch {args.batch}, {args.steps} steps")
    print("| what | ms |\n|---|---:|")
    print(f"| step, one device | {1000 * one:.1f} |")
    print(f"| step, 2-replica MirroredStrategy (2 logical CPUs) | {1000 * two:.1f} |")
    print(f"| ResNet-50 checkpoint save: loop blocked | {1000 * blocking:.1f} |")
    print(f"| ResNet-50 checkpoint save: whole write | {1000 * total:.1f} |")
    print(f"2 replicas / 1 device: {two / one:.2f}x per step; the save blocks the loop for "
          f"{100 * blocking / total:.0f}% of its write")


if __name__ == "__main__":
    main()
