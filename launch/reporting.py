"""What a person watching training sees: a progress line per loop, an evaluation line, and
TensorBoard summaries in ``model_dir/logs``."""
import math
import os
import sys
import time

import numpy as np
import tensorflow as tf


def format_duration(seconds):
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def progress_line(step, total, logs, width=24):
    """``step 40/100 [#########...........]  40% loss 1.2 acc 0.51 lr 0.1 310 img/s ETA 0:00:12``"""
    done = int(width * step / max(total, 1))
    rate = logs.get("steps_per_sec")
    speed = "-- img/s ETA --"  # a first loop of one step: no finished step to time from yet
    if rate and math.isfinite(rate):
        speed = (f"{logs['images_per_sec']:.1f} img/s "
                 f"ETA {format_duration((total - step) / rate)}")
    return (f"step {step}/{total} [{'#' * done}{'.' * (width - done)}] {100 * step / total:3.0f}% "
            f"loss {logs['loss']:.4f} acc {logs['accuracy']:.4f} lr {logs['lr']:.4g} {speed}")


class ReportingMixin:
    """Mix into a Trainer: progress line + TensorBoard at each loop and evaluation."""

    def start_reporting(self, log_dir, stream=None, write_logs=True):
        """Progress to ``stream``; TensorBoard summaries to ``log_dir`` unless ``write_logs`` is
        False (the workers of a cluster other than the chief)."""
        self._stream = stream or sys.stdout
        self._writers = {}
        if write_logs:
            self._writers = {
                "train": tf.summary.create_file_writer(os.path.join(log_dir, "train")),
                "val": tf.summary.create_file_writer(os.path.join(log_dir, "val"))}
        self._started = time.perf_counter()

    def _write(self, split, step, values):
        writer = getattr(self, "_writers", {}).get(split)
        if writer is None:
            return
        with writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)
        writer.flush()

    def on_loop_end(self, step, logs):
        line = progress_line(step, self.config.total_steps, logs)
        stream = getattr(self, "_stream", sys.stdout)
        print(line, file=stream, flush=True)
        self._write("train", step, {k: logs[k] for k in ("loss", "accuracy", "lr",
                                                          "images_per_sec")})

    def on_resume(self, step):
        stream = getattr(self, "_stream", sys.stdout)
        print(f"Resumed from step {step} of {self.config.total_steps} ({self.config.model_dir}).",
              file=stream, flush=True)
        change = getattr(self.checkpoints, "layout_change", None)
        if change:
            print(f"note: {change}", file=stream, flush=True)

    def on_eval_end(self, step, logs):
        stream = getattr(self, "_stream", sys.stdout)
        print(f"eval at step {step}: top-1 {100 * logs['top1']:.2f}%  top-5 "
              f"{100 * logs['top5']:.2f}%  loss {logs['loss']:.4f}", file=stream, flush=True)
        self._write("val", step, {"top1": logs["top1"], "top5": logs["top5"],
                                  "loss": logs["loss"]})

    def write_image_grid(self, images, mean, std, channel_order, step=0, max_images=16):
        """A grid of (denormalized) training images, as TensorBoard's image summary."""
        if "train" not in getattr(self, "_writers", {}):
            return
        grid = image_grid(np.asarray(images)[:max_images], mean, std, channel_order)
        with self._writers["train"].as_default(step=step):
            tf.summary.image("training_images", grid[None], step=step)
        self._writers["train"].flush()


def image_grid(images, mean, std, channel_order="RGB"):
    """Undoes the normalization and tiles the images into one [0, 1] RGB picture."""
    pixels = images * np.asarray(std, np.float32) + np.asarray(mean, np.float32)
    if channel_order == "BGR":
        pixels = pixels[..., ::-1]
    pixels = np.clip(pixels, 0.0, 1.0)
    n, h, w, c = pixels.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.zeros((rows * h, cols * w, c), np.float32)
    for i, image in enumerate(pixels):
        r, k = divmod(i, cols)
        grid[r * h:(r + 1) * h, k * w:(k + 1) * w] = image
    return grid
