"""TFRecord shards in the ImageNet layout: ``launch.make_tfrecords`` writes them, and they read
back to the same image bytes, decoded pixels and labels."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfcls.data import tfrecord, transforms

REPO_ROOT = Path(__file__).resolve().parents[1]


def _folder(root, per_class=5):
    rng = np.random.default_rng(0)
    for label in range(3):
        for i in range(per_class):
            path = root / f"class{label}" / f"{i}.{'jpg' if i % 2 else 'png'}"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (10 + i, 12, 3), dtype=np.uint8)).save(path)
    return root


def test_shards_read_back_to_the_same_bytes_pixels_and_labels(tmp_path):
    folder = _folder(tmp_path / "images")
    files = sorted(str(p) for p in folder.rglob("*.*"))
    labels = [int(Path(f).parent.name[-1]) for f in files]
    paths = tfrecord.write_shards(files, labels, str(tmp_path / "out"), "train", 4,
                                  label_offset=1)
    assert [os.path.basename(p) for p in paths] == [f"train-{i:05d}-of-00004" for i in range(4)]
    assert tfrecord.list_shards(str(tmp_path / "out"), "train") == paths
    examples = list(tfrecord.read_examples(str(tmp_path / "out"), "train", label_offset=1))
    order = [i for shard in range(4) for i in range(shard, len(files), 4)]  # shard after shard
    assert len(examples) == len(files)
    for (data, label), index in zip(examples, order):
        assert data.numpy() == open(files[index], "rb").read()
        assert int(label) == labels[index]
        if files[index].endswith(".png"):  # lossless: PIL's pixels (JPEG decoders differ)
            np.testing.assert_array_equal(transforms.decode_image(data),
                                          np.asarray(Image.open(files[index]).convert("RGB")))
    record = next(iter(tf.data.TFRecordDataset(paths[:1])))
    example = tf.train.Example.FromString(record.numpy()).features.feature
    assert example["image/class/label"].int64_list.value[0] == labels[order[0]] + 1
    assert example["image/filename"].bytes_list.value[0] == os.path.basename(files[0]).encode()


def test_shard_arguments_and_missing_shards_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="num_shards must be in"):
        tfrecord.write_shards(["a.png"], [0], str(tmp_path), "train", 2)
    with pytest.raises(FileNotFoundError, match="No TFRecord shards validation"):
        tfrecord.list_shards(str(tmp_path), "validation")


def _make(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "launch.make_tfrecords", *args], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=600)


def test_make_tfrecords_writes_train_validation_and_classes(tmp_path):
    folder = _folder(tmp_path / "images")
    out = tmp_path / "records"
    result = _make(f"--data_dir={folder}", f"--out={out}", "--shards=3", "--val_split=0.2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "classes.txt").read_text().split() == ["class0", "class1", "class2"]
    train = list(tfrecord.read_examples(str(out), "train"))
    validation = list(tfrecord.read_examples(str(out), "validation"))
    assert len(train) == 12 and len(validation) == 3
    assert sorted(int(label) for _, label in validation) == [0, 1, 2]  # one per class
    assert len(tfrecord.list_shards(str(out), "train")) == 3
    assert "train: 12 images in 3 shards" in result.stdout
    bad = _make(f"--data_dir={folder}", f"--out={out}", "--shards=0")
    assert bad.returncode == 2 and "--shards must be between 1 and" in bad.stderr
    assert "Traceback" not in bad.stderr
