"""Inputs that used to end in a traceback or be accepted silently: a TPU flag on a machine
without one, unreachable gs:// data, a class folder of only unreadable files. Each is one
``error:`` line, status 2, nothing written; and TensorFlow's start-up log stays off."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf

from conftest import REPO_ROOT
from launch import data as launch_data
from launch.common import UserError
from test_launch_errors import _IN_PROCESS


def test_unreachable_gs_data_is_one_error_saying_what_to_check(monkeypatch):
    """What TensorFlow raises without network or credentials (the sandbox's own error text)."""
    def offline(pattern):
        raise tf.errors.FailedPreconditionError(
            None, None, "Error executing an HTTP request: libcurl code 6 meaning 'Could not "
            "resolve hostname', error details: Could not resolve host: www.googleapis.com\n"
            "\t when reading gs://tfcls-bucket/shards")
    monkeypatch.setattr(tf.io.gfile, "glob", offline)
    with pytest.raises(UserError) as raised:
        launch_data.open_data("gs://tfcls-bucket/shards")
    message = str(raised.value)
    assert message.startswith("cannot read the data at gs://tfcls-bucket/shards: Error executing")
    assert "Could not resolve host" in message and "credentials" in message
    assert "\n" not in message


@pytest.mark.slow
def test_no_tpu_and_an_unreadable_class_are_one_error_line(small_folder, tmp_path):
    bad_class = tmp_path / "data"  # circle: 4 good images; square: one unreadable file
    circles = sorted(n for n in os.listdir(os.path.join(small_folder, "circle"))
                     if n.startswith("circle"))
    for name in ("circle", "square"):
        (bad_class / name).mkdir(parents=True)
    for name in circles[:4]:
        shutil.copy(os.path.join(small_folder, "circle", name), bad_class / "circle" / name)
    (bad_class / "square" / "broken.jpg").write_bytes(b"not a jpeg at all")
    cases = [([f"--data_dir={bad_class}"], f"Class folder {bad_class / 'square'} has no readable"),
             (["--tpu=local", f"--data_dir={small_folder}"], "no TPU found for --tpu=local")]
    argvs = [[*args, "--model=resnet18", "--img_size=32", "--steps=1",
              f"--model_dir={tmp_path / f'run{i}'}"] for i, (args, _) in enumerate(cases)]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", _IN_PROCESS, json.dumps(argvs)], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # TensorFlow's own log (oneDNN notes, the CUDA probe's cuInit error) is not shown
    native = [line for line in done.stderr.splitlines()
              if re.match(r"[IWEF]\d{4} |WARNING: All log messages", line) or "cuInit" in line]
    assert not native, native
    for result, (_, says), index in zip(json.loads(done.stdout.split("RESULTS ")[-1]), cases,
                                        range(len(cases))):
        errors = [line for line in result["stderr"].splitlines() if line.startswith("error:")]
        assert result["status"] == 2 and len(errors) == 1 and says in errors[0], result
        assert "Traceback" not in result["stderr"] + result["stdout"]
        assert not (tmp_path / f"run{index}").exists()
