"""The synthetic source and ``launch.benchmark_input``, as a user meets it."""
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfcls import data
from tfcls.data import tfrecord  # noqa: F401  (data.tfrecord)

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_synthetic_source_has_the_shape_resumes_and_shards():
    input_fn = data.build_synthetic_input_fn(image_size=6, global_batch_size=4, num_classes=3,
                                             seed=1)
    full = [(x.numpy(), y.numpy()) for x, y in input_fn().take(4)]
    assert all(x.shape == (4, 6, 6, 3) and x.dtype == np.float32 and y.shape == (4,)
               and y.dtype == np.int32 and set(y) <= {0, 1, 2} for x, y in full)
    assert not np.array_equal(full[0][0], full[1][0])
    for (x, y), (x_ref, y_ref) in zip(input_fn(start_step=2).take(2), full[2:]):
        np.testing.assert_array_equal(x, x_ref)
        np.testing.assert_array_equal(y, y_ref)
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1,
                                         num_replicas_in_sync=2)
    x, _ = next(iter(input_fn(input_context=context)))
    assert x.shape == (2, 6, 6, 3)


def _run(*args, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TFCLS_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "launch.benchmark_input", *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_benchmark_input_prints_images_per_second(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for i in range(8):
        path = tmp_path / "folder" / f"c{i % 2}" / f"{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(path)
    result = _run(f"--data_dir={tmp_path / 'folder'}", "--img_size=32", "--batch_size=4",
                  "--batches=3", "--warmup_batches=1", "--randaugment_ops=2", "--mixup=0.8",
                  tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("8 images (0 for validation) under ") and float(line.split()[-2]) > 0
    assert ": 3 batches of 4 at 32 px" in line
    files = sorted(str(p) for p in (tmp_path / "folder").rglob("*.jpg"))
    data.tfrecord.write_shards(files, [int(f.split("/")[-2][1]) for f in files],
                               str(tmp_path / "shards"), "train", 2)
    shards = _run(f"--data_dir={tmp_path / 'shards'}", "--num_classes=2", "--img_size=32",
                  "--batch_size=4", "--batches=3", "--warmup_batches=1", "--randaugment_ops=2",
                  tmp_path=tmp_path)
    assert shards.returncode == 0, shards.stderr[-2000:]
    assert shards.stdout.strip().startswith("8 images in 2 train shards under")
    synthetic = _run("--synthetic", "--img_size=16", "--batches=2", tmp_path=tmp_path)
    assert synthetic.returncode == 0 and synthetic.stdout.startswith("synthetic: 2 batches of 64")
    missing = _run(f"--data_dir={tmp_path / 'nope'}", tmp_path=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in (REPO_ROOT / "benchmarks").glob(
    "bench_*.py")))
def test_every_benchmark_builds_its_command_line(script, monkeypatch, capsys):
    """``bench_x.py --help`` in this process: the module imports and its argument parser builds
    (a renamed library attribute once broke bench_trainer.py there, unnoticed)."""
    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    namespace = runpy.run_path(str(REPO_ROOT / "benchmarks" / script), run_name="benchmark")
    monkeypatch.setattr(sys, "argv", [script, "--help"])
    with pytest.raises(SystemExit) as stopped:
        namespace["main"]()
    assert stopped.value.code == 0 and "usage:" in capsys.readouterr().out
