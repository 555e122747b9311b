"""Do the command line's defaults learn? Two generated 10-class data sets, trained from scratch.

    python benchmarks/bench_defaults.py                       # both data sets, every recipe
    python benchmarks/bench_defaults.py --datasets glyphs --recipes defaults,tuned --epochs 15

Each data set is 10 classes of 32 px images, 140 training and 60 validation images per class (the
size of a small real-world set), written once into ``--root``:

- ``glyphs``: the digits 0-9 drawn in PIL's built-in font at random size, a small rotation,
  position and contrasting colours over a noisy gradient background;
- ``textures``: ten periodic and random textures (stripes in three orientations, checkers, dots,
  rings, a grid, spokes, zigzags, smooth blobs) at random period, phase, rotation and colours.

Every recipe runs ``python -m launch.train --model=<model> --img_size=32 --epochs=<epochs>
--data_dir=<data set>`` plus its own flags, in a subprocess, as a user runs it, and the final
validation top-1 is read from its last line. ``defaults`` adds nothing; ``old_defaults`` spells
out the defaults before they were changed (SGD 0.1 without warmup, crop scale 0.08, no label
smoothing); ``tuned`` is the quickstart's hand-tuned recipe; ``lr_x0.5`` and ``lr_x2`` move the
default learning rate; ``glorot`` is the defaults with keras' glorot-uniform init instead of the
references' (He fan-out normal convolutions).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE, TRAIN_PER_CLASS, VAL_PER_CLASS = 32, 140, 60
RECIPES = {
    "defaults": [],
    "old_defaults": ["--optimizer=sgd", "--lr=0.1", "--weight_decay=0", "--label_smoothing=0",
                     "--warmup_epochs=0", "--min_crop_scale=0.08", "--batch_size=128"],
    "tuned": ["--optimizer=adamw", "--lr=3e-3", "--batch_size=64", "--warmup_epochs=0.5",
              "--weight_decay=0.01", "--label_smoothing=0.1", "--min_crop_scale=0.5"],
    "lr_x0.5": ["--lr=1e-3"],
    "lr_x2": ["--lr=4e-3"],
    "glorot": [],  # the defaults, with the init patched below
}
# Runs launch.train with every convolution and linear layer back at keras' glorot-uniform default.
GLOROT = ("import tfcls.layers.init as i, tfcls.models.resnet as r, tfcls.models.vgg as v; "
          "r.use_he_conv_init = v.use_he_conv_init = lambda module: None; "
          "r.torch_default_init = lambda fan_in: {}; "
          "import sys; sys.argv[0] = 'launch.train'; from launch import train; train.run()")


def _background(rng):
    base = rng.uniform(0, 255, 3)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy)[..., None] * rng.uniform(-90, 90, 3)
    return np.clip(base + ramp, 0, 255), base


def _colour_far_from(rng, colour, distance=110):
    for _ in range(100):
        candidate = rng.uniform(0, 255, 3)
        if np.linalg.norm(candidate - colour) >= distance:
            return candidate
    return 255 - colour


def draw_glyph(digit, rng):
    """The digit in PIL's built-in font, 4x supersampled: size, rotation, offset, colours random."""
    scale = 4
    font = ImageFont.load_default(size=int(rng.uniform(22, 30) * scale))
    canvas = Image.new("L", (SIZE * scale, SIZE * scale), 0)
    ImageDraw.Draw(canvas).text((SIZE * scale / 2, SIZE * scale / 2), str(digit), fill=255,
                                font=font, anchor="mm")
    canvas = canvas.rotate(rng.uniform(-10, 10), resample=Image.BILINEAR,
                           translate=tuple(rng.uniform(-3, 3, 2) * scale))
    mask = np.asarray(canvas, np.float64).reshape(SIZE, scale, SIZE, scale).mean((1, 3)) / 255
    background, base = _background(rng)
    image = background * (1 - mask[..., None]) + _colour_far_from(rng, base, 150) * mask[..., None]
    return np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)


TEXTURES = ("h_stripes", "v_stripes", "diagonal", "checkers", "dots", "rings", "grid", "spokes",
            "zigzag", "blobs")


def draw_texture(kind, rng):
    """A texture ``kind`` at random period, phase, a small rotation and two random colours.
    Horizontal flips keep the class (the diagonal class has both diagonals)."""
    yy, xx = (np.mgrid[0:SIZE, 0:SIZE] - SIZE / 2 + rng.uniform(-3, 3, (2, 1, 1)))
    turn = np.deg2rad(rng.uniform(-12, 12))
    u, v = np.cos(turn) * xx - np.sin(turn) * yy, np.sin(turn) * xx + np.cos(turn) * yy
    period = rng.uniform(5, 10)
    w = 2 * np.pi / period
    phase = rng.uniform(0, 2 * np.pi)
    if kind == "h_stripes":
        field = np.sin(w * v + phase)
    elif kind == "v_stripes":
        field = np.sin(w * u + phase)
    elif kind == "diagonal":
        field = np.sin(w * (u + rng.choice([-1, 1]) * v) / np.sqrt(2) + phase)
    elif kind == "checkers":
        field = np.sin(w * u + phase) * np.sin(w * v + phase)
    elif kind == "dots":
        field = (np.cos(w * u + phase) + np.cos(w * v + phase)) - 1.2
    elif kind == "rings":
        field = np.sin(w * np.hypot(u, v) + phase)
    elif kind == "grid":
        field = np.maximum(np.cos(w * u + phase), np.cos(w * v + phase)) - 0.8
    elif kind == "spokes":
        field = np.sin(rng.integers(4, 8) * np.arctan2(v, u) + phase)
    elif kind == "zigzag":
        field = np.sin(w * v + 2.5 * np.abs(((u / period) % 2) - 1) * np.pi + phase)
    elif kind == "blobs":
        noise = rng.normal(size=(SIZE // 4 + 2, SIZE // 4 + 2))
        big = np.asarray(Image.fromarray(noise.astype(np.float32)).resize(
            (SIZE + 8, SIZE + 8), Image.BICUBIC))[4:-4, 4:-4]
        field = big / (np.abs(big).max() + 1e-9)
    else:
        raise ValueError(kind)
    mask = 1 / (1 + np.exp(-4 * field))[..., None]
    a = rng.uniform(0, 255, 3)
    b = _colour_far_from(rng, a, 80)
    image = a * (1 - mask) + b * mask
    return np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)


def make_dataset(root, name):
    """Writes ``root/name/{train,val}/<class>/*.png`` once; returns the folder."""
    folder = os.path.join(root, name)
    marker = os.path.join(folder, ".complete")
    if os.path.exists(marker):
        return folder
    classes = [str(d) for d in range(10)] if name == "glyphs" else list(TEXTURES)
    for split_id, (split, count) in enumerate((("train", TRAIN_PER_CLASS),
                                               ("val", VAL_PER_CLASS))):
        for class_id, cls in enumerate(classes):
            os.makedirs(os.path.join(folder, split, cls), exist_ok=True)
            for i in range(count):
                rng = np.random.default_rng([7, split_id, class_id, i])
                pixels = draw_glyph(class_id, rng) if name == "glyphs" else draw_texture(cls, rng)
                Image.fromarray(pixels).save(os.path.join(folder, split, cls, f"{i:04d}.png"))
    open(marker, "w").close()
    return folder


def run_recipe(recipe, data_dir, model, epochs, model_dir, seed):
    args = [f"--model={model}", "--img_size=32", f"--epochs={epochs}", f"--data_dir={data_dir}",
            f"--model_dir={model_dir}", f"--seed={seed}", *RECIPES[recipe]]
    command = ([sys.executable, "-c", GLOROT, *args] if recipe == "glorot"
               else [sys.executable, "-m", "launch.train", *args])
    began = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    seconds = time.perf_counter() - began
    found = re.search(r"validation top-1 ([\d.]+)%", result.stdout)
    if result.returncode != 0 or not found:
        raise RuntimeError(f"{recipe} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return float(found.group(1)), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="glyphs,textures")
    parser.add_argument("--recipes", default="defaults,tuned,old_defaults,lr_x0.5,lr_x2,glorot")
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--root", default=os.path.join(os.path.expanduser("~"), ".cache",
                                                       "tfcls", "bench_defaults"))
    args = parser.parse_args()
    print(f"{args.model}, 32 px, {args.epochs} epochs, {TRAIN_PER_CLASS * 10} training / "
          f"{VAL_PER_CLASS * 10} validation images; validation top-1 %, mean over seeds "
          f"{args.seeds}")
    print("| data set | recipe | top-1 | per seed | seconds |")
    print("|---|---|---:|---|---:|")
    results = {}
    for dataset in args.datasets.split(","):
        data_dir = make_dataset(args.root, dataset)
        for recipe in args.recipes.split(","):
            tops, times = [], []
            for seed in map(int, args.seeds.split(",")):
                model_dir = os.path.join(args.root, "runs", f"{dataset}-{recipe}-{seed}")
                subprocess.run(["rm", "-rf", model_dir], check=True)
                top1, seconds = run_recipe(recipe, data_dir, args.model, args.epochs, model_dir,
                                           seed)
                tops.append(top1)
                times.append(seconds)
            results[(dataset, recipe)] = float(np.mean(tops))
            print(f"| {dataset} | {recipe} | {np.mean(tops):.1f} | "
                  f"{', '.join(f'{t:.1f}' for t in tops)} | {np.mean(times):.0f} |", flush=True)
    print(json.dumps({f"{d}/{r}": v for (d, r), v in results.items()}))


if __name__ == "__main__":
    main()
