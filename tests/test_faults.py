"""Faults a real run meets, injected for real: a SIGTERM in the middle of a long compiled loop, and
a checkpoint write that the operating system refuses (a file-size limit, RLIMIT_FSIZE, makes
every large write fail with EFBIG as a full disk fails with ENOSPC)."""
import os
import resource
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from conftest import REPO_ROOT
from tfcls.checkpoint import CheckpointManager, CheckpointWriteError
from test_checkpoint import make_trainer
from test_trainer_helpers import tiny_dataset


def _signal_when(trainer, min_step, record, finished):
    """A thread that sends this process SIGTERM once ``trainer`` reached ``min_step`` (never once
    ``finished`` is set: no handler would catch it); it records the step it saw and the time."""
    def watch():
        while int(trainer.step.numpy()) < min_step:
            if finished.wait(0.002):
                return
        record.update(step=int(trainer.step.numpy()), sent=time.monotonic())
        os.kill(os.getpid(), signal.SIGTERM)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _model_weights(trainer):
    return [v.numpy().copy() for v in trainer.model.variables]


def test_sigterm_stops_a_long_loop_at_the_next_step_and_resume_is_exact(tmp_path):
    """One loop spans the whole run (steps_per_loop = total): the stop lands within a few
    milliseconds' steps of the signal, not at the loop's end, its checkpoint holds that step, and
    the resumed run ends with the weights of an uninterrupted one."""
    total = 3000
    settings = dict(total_steps=total, steps_per_loop=total, checkpoint_every=total, seed=1)
    trainer = make_trainer(tmp_path / "stopped", **settings)
    record, finished = {}, threading.Event()
    watcher = _signal_when(trainer, 5, record, finished)
    try:
        logs = trainer.train(tiny_dataset(8))
    finally:
        returned = time.monotonic()
        finished.set()
        watcher.join()
    stopped = logs["step"]
    assert logs["stopped_by"] == "SIGTERM" and logs["checkpoint_step"] == stopped
    assert record["step"] <= stopped <= record["step"] + 50 < total, (record, stopped)
    # one step and a small save, whatever steps_per_loop is (the loop would take ~10 s more)
    assert returned - record["sent"] < 5.0
    on_disk = CheckpointManager(tmp_path / "stopped" / "checkpoints", is_chief=False)
    assert on_disk.all_steps() == [stopped]

    end = stopped + 3
    resumed = make_trainer(tmp_path / "stopped", **settings)
    assert resumed.train(tiny_dataset(8), num_steps=3)["step"] == end
    reference = make_trainer(tmp_path / "reference", **settings)
    reference.train(tiny_dataset(8), num_steps=end)
    for a, b in zip(_model_weights(reference), _model_weights(resumed)):
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def file_size_limit():
    """``limit(bytes)``: from then on this process cannot write a file past ``bytes`` (EFBIG,
    "File too large"; Python ignores SIGXFSZ); the limit is lifted after the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    yield lambda size: resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_failed_checkpoint_write_stops_training_at_once(tmp_path, file_size_limit):
    """The background write of step 400 fails: the run stops within the next loop (not at the
    next save, 200 steps on) with a CheckpointWriteError naming the cause and the last complete
    checkpoint; the failed step's partial files are gone and step 200 restores."""
    settings = dict(total_steps=800, steps_per_loop=200, checkpoint_every=200)
    trainer = make_trainer(tmp_path, **settings)
    trainer.train(tiny_dataset(8), num_steps=200)
    file_size_limit(1024)  # the tiny model's state is ~20 kB: every later checkpoint fails
    with pytest.raises(CheckpointWriteError) as raised:
        trainer.train(tiny_dataset(8))
    message = str(raised.value)
    assert "could not write checkpoint 400" in message and "File too large" in message
    assert "last complete checkpoint is step 200" in message
    assert 400 <= int(trainer.step.numpy()) < 600
    assert os.listdir(tmp_path / "checkpoints") == ["200"]  # no 400.orbax-checkpoint-tmp
    arrays, meta = CheckpointManager(tmp_path / "checkpoints", is_chief=False).restore()
    assert meta["step"] == 200 and all(np.isfinite(a).all() for a in arrays.values())


def _limit_file_size(size):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE,
                                      (size, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


@pytest.mark.slow
def test_launch_train_reports_a_failed_checkpoint_write_in_one_line(small_folder, tmp_path):
    """A run resumed where its checkpoints can no longer be written (files capped at 1 MB, a
    ResNet-18 checkpoint is ~90 MB): exit status 1, one error line naming the cause, the step and
    the last complete checkpoint, no traceback, no partial files."""
    args = [sys.executable, "-m", "launch.train", "--model=resnet18", "--img_size=32",
            "--batch_size=4", "--checkpoint_every=2", "--eval_every=100",
            f"--data_dir={small_folder}", f"--model_dir={tmp_path / 'run'}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.run(args + ["--steps=2"], cwd=REPO_ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    full = subprocess.run(args + ["--steps=6"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=600, preexec_fn=_limit_file_size(2 ** 20))
    assert full.returncode == 1, full.stdout + full.stderr[-3000:]
    assert full.stderr.count("error:") == 1 and "Traceback" not in full.stderr, full.stderr
    (error,) = full.stderr.strip().splitlines()
    assert error.startswith("error: could not write checkpoint 4 ") and "File too large" in error
    assert "the last complete checkpoint is step 2" in error
    assert os.listdir(tmp_path / "run" / "checkpoints") == ["2"]


def test_an_interrupted_export_leaves_the_previous_one_or_nothing(tmp_path, monkeypatch):
    """The TFLite conversion is interrupted (Ctrl-C) after the SavedModel was written: the
    earlier export stays as it was, a first export leaves nothing, and no empty model.tflite."""
    import tensorflow as tf

    from launch.serving import export
    from test_trainer_helpers import tiny_model

    model, names = tiny_model(), ["a", "b", "c", "d"]
    done = tmp_path / "export"
    export(model, names, str(done), tflite=True)
    before = {name: (done / name).read_bytes() for name in ("model.tflite", "saved_model.pb")}
    assert len(before["model.tflite"]) > 1000

    def interrupted(self):
        raise KeyboardInterrupt
    monkeypatch.setattr(tf.lite.TFLiteConverter, "convert", interrupted)
    for target in (done, tmp_path / "first"):
        with pytest.raises(KeyboardInterrupt):
            export(model, names, str(target), tflite=True)
    assert before == {name: (done / name).read_bytes() for name in before}
    assert sorted(os.listdir(tmp_path)) == ["export"]  # no "first", no *.partial


def test_stderr_drops_only_tracebacks_into_a_closed_event_loop():
    """What tensorstore prints after a failed write, line by line from four threads at once, is
    dropped; another traceback, an error line and a partial line flushed are kept whole."""
    import io

    from launch.common import ClosedLoopTracebackFilter

    out = io.StringIO()
    stderr = ClosedLoopTracebackFilter(out)

    def closed_loop_callbacks():
        for _ in range(50):
            for piece in ("Traceback (most recent call last):\n",
                          '  File "/py/asyncio/base_events.py", line 806, in call_soon_threadsafe\n',
                          "    self._check_closed()\n", "RuntimeError", ": ",
                          "Event loop is closed", "\n"):
                stderr.write(piece)
    threads = [threading.Thread(target=closed_loop_callbacks) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = ("error: could not write checkpoint 4\nTraceback (most recent call last):\n"
            '  File "train.py", line 1, in <module>\nValueError: x\n')
    stderr.write(kept)
    stderr.write("50%")
    stderr.flush()
    assert out.getvalue() == kept + "50%"
