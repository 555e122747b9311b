"""A small built-in data set: coloured shapes on noisy backgrounds, written as image files.

The class is the shape kind (circle, square, triangle, ...); position, size, rotation, colour and
background are random, so colour alone tells nothing about the class. Images are written in the
image-folder layout ``root/{train,val}/<class>/<file>`` as PNG, with every fifth one as JPEG so that
both decoders are exercised. Generation is deterministic (each image has its own RNG seeded from
``(seed, split, class, index)``), takes a few seconds, and a complete data set is reused.
"""
import json
import os
import shutil

import numpy as np
from PIL import Image, ImageDraw

SHAPE_KINDS = ("circle", "square", "triangle", "star", "cross", "ring", "crescent", "hexagon")
VERSION = 1
MARKER = ".complete.json"
_SUPERSAMPLE = 4  # draw masks at 4x and box-downsample them: anti-aliased edges
_JPEG_EVERY = 5


def default_shapes_root():
    """``$TFCLS_CACHE/shapes-v1``, else ``~/.cache/tfcls/shapes-v1``."""
    default_cache = os.path.join(os.path.expanduser("~"), ".cache", "tfcls")
    cache = os.environ.get("TFCLS_CACHE") or default_cache
    return os.path.join(cache, f"shapes-v{VERSION}")


def make_shapes_dataset(root=None, *, num_classes=6, train_per_class=600, val_per_class=50,
                        image_size=64, seed=0):
    """Writes the shapes data set under ``root`` (default: ``default_shapes_root()``); returns root.

    A data set already complete at ``root`` with the same settings is reused. Files are generated
    in a sibling temporary folder (``<root>.partial-<pid>``) with a marker file written last, then
    moved to ``root``; a data set without the marker (interrupted) or with other settings is
    redone. A ``root`` holding anything else is never overwritten.
    """
    if not 2 <= num_classes <= len(SHAPE_KINDS):
        raise ValueError(f"num_classes must be between 2 and {len(SHAPE_KINDS)} (shape kinds "
                         f"{SHAPE_KINDS}), got {num_classes}.")
    if train_per_class < 1 or val_per_class < 0:
        raise ValueError(f"Need train_per_class >= 1 and val_per_class >= 0, got "
                         f"{train_per_class} and {val_per_class}.")
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 px, got {image_size}.")
    root = os.path.abspath(os.path.expanduser(root or default_shapes_root()))
    config = {"version": VERSION, "num_classes": num_classes, "train_per_class": train_per_class,
              "val_per_class": val_per_class, "image_size": image_size, "seed": seed}
    if _read_marker(root) == config:
        return root
    _check_replaceable(root)
    tmp = f"{root}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    for split, per_class in (("train", train_per_class), ("val", val_per_class)):
        _write_split(os.path.join(tmp, split), split, per_class, config)
    with open(os.path.join(tmp, MARKER), "w") as f:
        json.dump(config, f)
    _move_into_place(tmp, root, config)
    return root


def draw_shape_image(kind, rng, image_size):
    """One uint8 RGB image (H, W, 3) of a shape ``kind`` drawn with random ``rng`` parameters."""
    size = image_size
    radius = rng.uniform(0.25, 0.45) * size
    center = rng.uniform(radius, size - radius, size=2)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    mask = _shape_mask(kind, center, radius, angle, size)
    background, base_colour = _background(rng, size)
    fg_colour = _contrasting_colour(rng, base_colour)
    image = background * (1.0 - mask[..., None]) + fg_colour * mask[..., None]
    image += rng.normal(0.0, 12.0, size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _write_split(split_dir, split, per_class, config):
    split_id = {"train": 0, "val": 1}[split]
    for class_id, kind in enumerate(SHAPE_KINDS[:config["num_classes"]]):
        class_dir = os.path.join(split_dir, kind)
        os.makedirs(class_dir, exist_ok=True)
        for i in range(per_class):
            rng = np.random.default_rng([config["seed"], split_id, class_id, i])
            image = Image.fromarray(draw_shape_image(kind, rng, config["image_size"]))
            if i % _JPEG_EVERY == _JPEG_EVERY - 1:
                image.save(os.path.join(class_dir, f"{kind}_{i:05d}.jpg"), quality=90)
            else:
                image.save(os.path.join(class_dir, f"{kind}_{i:05d}.png"))


def _shape_mask(kind, center, radius, angle, size):
    """Float mask in [0, 1] of shape (size, size), anti-aliased by supersampling."""
    s = _SUPERSAMPLE
    canvas = Image.new("L", (size * s, size * s), 0)
    draw = ImageDraw.Draw(canvas)
    cx, cy, r = center[0] * s, center[1] * s, radius * s

    def polygon(points):
        points = np.asarray(points, dtype=np.float64)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        xy = points @ rot.T * r + (cx, cy)
        draw.polygon([tuple(p) for p in xy], fill=255)

    def disc(x, y, rad, fill=255):
        draw.ellipse([x - rad, y - rad, x + rad, y + rad], fill=fill)

    if kind == "circle":
        disc(cx, cy, r)
    elif kind == "ring":
        disc(cx, cy, r)
        disc(cx, cy, 0.6 * r, fill=0)
    elif kind == "crescent":
        disc(cx, cy, r)
        disc(cx + 0.5 * r * np.cos(angle), cy + 0.5 * r * np.sin(angle), 0.8 * r, fill=0)
    elif kind == "square":
        polygon(_regular_polygon(4, 1.15))  # same area as a disc of radius ~0.9 r
    elif kind == "triangle":
        polygon(_regular_polygon(3, 1.0))
    elif kind == "hexagon":
        polygon(_regular_polygon(6, 1.0))
    elif kind == "star":
        outer, inner = _regular_polygon(5, 1.0), _regular_polygon(5, 0.42, phase=np.pi / 5)
        polygon(np.stack([outer, inner], axis=1).reshape(-1, 2))
    elif kind == "cross":
        a, b = 1.0, 0.33
        polygon([(-b, -a), (b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a), (-b, a), (-b, b),
                 (-a, b), (-a, -b), (-b, -b)])
    else:
        raise ValueError(f"Unknown shape kind {kind!r}; known kinds: {SHAPE_KINDS}.")
    mask = np.asarray(canvas, dtype=np.float64).reshape(size, s, size, s).mean(axis=(1, 3))
    return mask / 255.0


def _regular_polygon(num_vertices, radius, phase=0.0):
    t = phase - np.pi / 2 + 2 * np.pi * np.arange(num_vertices) / num_vertices
    return radius * np.stack([np.cos(t), np.sin(t)], axis=1)


def _background(rng, size):
    """(background, colour): a random colour with a random linear gradient, float 0-255."""
    base = rng.uniform(0, 255, size=3)
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction) + 1e-9
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1) - 0.5
    ramp = (xx * direction[0] + yy * direction[1])[..., None] * rng.uniform(-80, 80, size=3)
    return np.clip(base + ramp, 0, 255), base


def _contrasting_colour(rng, background_colour, min_distance=120.0):
    """A random colour at least ``min_distance`` (RGB, 0-255) from the background's mean colour."""
    for _ in range(100):
        colour = rng.uniform(0, 255, size=3)
        if np.linalg.norm(colour - background_colour) >= min_distance:
            return colour
    return 255.0 - background_colour


def _read_marker(root):
    try:
        with open(os.path.join(root, MARKER)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _is_replaceable(root):
    """Missing, empty, or a shapes data set (complete, or interrupted: only train/ and val/)."""
    if not os.path.isdir(root):
        return not os.path.exists(root)
    return _read_marker(root) is not None or set(os.listdir(root)) <= {"train", "val"}


def _check_replaceable(root):
    if not _is_replaceable(root):
        raise FileExistsError(
            f"{root} exists and is not a tfcls shapes data set (no {MARKER}); refusing to "
            f"overwrite it. Pass an empty or new directory as root.")


def _move_into_place(tmp, root, config):
    os.makedirs(os.path.dirname(root), exist_ok=True)
    if os.path.isdir(root):
        shutil.rmtree(root)  # checked by _check_replaceable: stale, interrupted or empty
    try:
        os.replace(tmp, root)
    except OSError:
        # Another process finished first; keep its copy if it has our settings.
        shutil.rmtree(tmp, ignore_errors=True)
        if _read_marker(root) != config:
            raise
