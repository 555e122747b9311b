"""Tests of the built-in shapes data set (tfcls.data.shapes): layout, determinism, reuse, and
classes that only the shape gives away."""
import os

import numpy as np
import pytest
from PIL import Image

from tfcls import data
from tfcls.data import shapes

SMALL_SHAPES = dict(num_classes=3, train_per_class=5, val_per_class=2, image_size=24, seed=3)


def _tree_bytes(root):
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def test_shapes_layout_and_determinism(tmp_path):
    root_a = data.make_shapes_dataset(tmp_path / "a", **SMALL_SHAPES)
    root_b = data.make_shapes_dataset(tmp_path / "b", **SMALL_SHAPES)
    tree_a, tree_b = _tree_bytes(root_a), _tree_bytes(root_b)
    assert tree_a == tree_b
    kinds = list(shapes.SHAPE_KINDS[:3])
    for split, per_class in (("train", 5), ("val", 2)):
        assert sorted(os.listdir(os.path.join(root_a, split))) == sorted(kinds)
        for kind in kinds:
            names = os.listdir(os.path.join(root_a, split, kind))
            assert len(names) == per_class
    suffixes = {os.path.splitext(name)[1] for name in tree_a}
    assert {".png", ".jpg"} <= suffixes
    one = Image.open(os.path.join(root_a, "train", kinds[0], os.listdir(
        os.path.join(root_a, "train", kinds[0]))[0]))
    assert one.size == (24, 24) and one.mode == "RGB"
    other_seed = data.make_shapes_dataset(tmp_path / "c", **{**SMALL_SHAPES, "seed": 4})
    assert _tree_bytes(other_seed).keys() == tree_a.keys()
    assert _tree_bytes(other_seed) != tree_a


def test_shapes_reused_when_complete_and_redone_when_not(tmp_path):
    root = data.make_shapes_dataset(tmp_path / "s", **SMALL_SHAPES)
    class_dir = os.path.join(root, "train", shapes.SHAPE_KINDS[0])
    some_file = os.path.join(class_dir, sorted(os.listdir(class_dir))[0])
    with open(some_file, "wb") as f:
        f.write(b"marker-check")  # reused data sets are not rewritten
    assert data.make_shapes_dataset(root, **SMALL_SHAPES) == root
    with open(some_file, "rb") as f:
        assert f.read() == b"marker-check"
    os.remove(os.path.join(root, shapes.MARKER))  # as if generation was interrupted
    data.make_shapes_dataset(root, **SMALL_SHAPES)
    with open(some_file, "rb") as f:
        assert f.read() != b"marker-check"
    data.make_shapes_dataset(root, **{**SMALL_SHAPES, "num_classes": 2})  # new settings: redone
    assert sorted(os.listdir(os.path.join(root, "train"))) == sorted(shapes.SHAPE_KINDS[:2])


def test_shapes_default_root_uses_cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TFCLS_CACHE", str(tmp_path))
    assert data.default_shapes_root() == os.path.join(str(tmp_path), "shapes-v1")


def test_shapes_refuses_foreign_directory(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a tfcls shapes data set"):
        data.make_shapes_dataset(tmp_path / "mine", **SMALL_SHAPES)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_shapes_classes_are_the_shape_not_the_colour(tmp_path):
    root = data.make_shapes_dataset(tmp_path / "s", **{**SMALL_SHAPES, "train_per_class": 20})
    files, labels, _, _ = data.scan_image_folder(os.path.join(root, "train"))
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB"), np.float64) for f in files])
    # Mean colour per class is near the overall mean: colour does not give the class away.
    class_means = np.stack([pixels[np.asarray(labels) == c].mean(axis=(0, 1, 2)) for c in range(3)])
    assert np.abs(class_means - pixels.mean(axis=(0, 1, 2))).max() < 40
