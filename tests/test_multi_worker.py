"""Multi-worker training for real: two ``launch.train`` worker processes on this machine, a
``TF_CONFIG`` on free 127.0.0.1 ports, one CPU device each (MultiWorkerMirroredStrategy).

Shown: the weights after N steps equal a single-process run on two logical CPUs with the same
global batch (<= 1e-6); only the chief writes checkpoints, TensorBoard logs and run.json; a
SIGTERM to one worker stops both at the same step, the chief saves, both exit with status 143;
SIGKILL of both, then the same commands, resume both from the chief's checkpoint. Every process
runs in its own session with a timeout and is killed at the end; the ports are closed again.

Batch norm's moving statistics are per-replica (sync-on-read) variables; a checkpoint keeps their
mean, so after the two resumes they match the uninterrupted reference to float32 rounding
(relative 1e-5: the stem's moving variance is in the thousands), the trained weights exactly."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tfcls.data import make_shapes_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
TIMEOUT = 240


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _args(data_dir, model_dir, steps):
    return ["--model=resnet18", "--img_size=32", "--batch_size=8", f"--steps={steps}",
            "--steps_per_loop=1", "--checkpoint_every=4", "--eval_every=1000", "--val_split=0",
            "--optimizer=sgd", "--lr=0.05", "--momentum=0.9", "--weight_decay=0.0005",
            "--drop_path_rate=0.1", "--seed=3", f"--data_dir={data_dir}",
            f"--model_dir={model_dir}"]


def _env(**extra):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1", **extra}
    env.pop("TF_CONFIG", None)
    return {**env, **extra}


def _start(args, env):
    return subprocess.Popen([sys.executable, "-m", "launch.train", *args], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def _cluster(args):
    ports = _free_ports(2)
    workers = [f"127.0.0.1:{port}" for port in ports]
    return [_start(args, _env(TF_CONFIG=json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})))
        for i in range(2)]


def _finish(processes, timeout=TIMEOUT):
    """(status, output) of each process; kills the whole session of any still running."""
    results = []
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            out, _ = process.communicate(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            out = ""
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                out += process.communicate()[0]
        results.append((process.returncode, out))
    return results


def _wait_for(process, text, lines, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        lines.append(line)
        if text in line or time.monotonic() > deadline:
            return True
    return False


def _weights(model_dir, step):
    from tfcls.checkpoint import CheckpointManager
    manager = CheckpointManager(os.path.join(model_dir, "checkpoints"), is_chief=False)
    arrays, _ = manager.restore(step)
    return {k: v for k, v in arrays.items() if k.startswith("model/")}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = make_shapes_dataset(str(tmp_path_factory.mktemp("mw") / "shapes"), num_classes=2,
                               train_per_class=16, val_per_class=0, image_size=32)
    return os.path.join(root, "train")


def test_two_workers_equal_two_replicas_stop_together_and_resume(data_dir, tmp_path):
    reference = tmp_path / "reference"
    (status, out), = _finish([_start(_args(data_dir, reference, 12) + ["--cpu_replicas=2"],
                                     _env())])
    assert status == 0, out[-3000:]

    cluster = tmp_path / "cluster"
    args = _args(data_dir, cluster, 12)
    chief, worker = _cluster(args)
    seen = []
    assert _wait_for(worker, "step 6/12", seen), "".join(seen)[-3000:]
    worker.send_signal(signal.SIGTERM)  # to the non-chief only
    (chief_status, chief_out), (worker_status, worker_out) = _finish([chief, worker])
    worker_out = "".join(seen) + worker_out
    assert (chief_status, worker_status) == (143, 143), chief_out[-2000:] + worker_out[-2000:]
    assert "Worker 0 of 2; the chief" in chief_out and "Worker 1 of 2;" in worker_out
    stops = [[line for line in out.splitlines() if line.startswith("Stopped by SIGTERM")]
             for out in (chief_out, worker_out)]
    assert "received by another worker" in stops[0][0] and "another" not in stops[1][0]
    step = int(stops[0][0].split("at step ")[1].split("/")[0])
    assert step == int(stops[1][0].split("at step ")[1].split("/")[0]) and 6 <= step < 12
    assert str(step) in os.listdir(cluster / "checkpoints")
    # only the chief (worker 0) wrote: one event file per log folder, named with its process id
    events = os.listdir(cluster / "logs" / "train")
    assert len(events) == 1 and f".{chief.pid}." in events[0], (events, chief.pid, worker.pid)
    assert (cluster / "run.json").exists() and (cluster / "train.flags").exists()

    # rerun; SIGKILL both once step 8's checkpoint is there; rerun again to the end
    chief, worker = _cluster(args)
    seen = []
    assert _wait_for(chief, "step 9/12", seen), "".join(seen)[-3000:]
    assert f"Resumed from step {step} of 12" in "".join(seen)
    deadline = time.monotonic() + 30  # step 8's write runs in the background: let it land
    while not (cluster / "checkpoints" / "8").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    for process in (chief, worker):
        os.killpg(process.pid, signal.SIGKILL)
    _finish([chief, worker])
    assert "8" in os.listdir(cluster / "checkpoints")
    results = _finish(_cluster(args))
    for status, out in results:
        assert status == 0, out[-3000:]
        assert "Resumed from step 8 of 12" in out
    expected, got = _weights(reference, 12), _weights(cluster, 12)
    assert expected.keys() == got.keys()
    trained = [k for k in expected if "moving_" not in k]
    worst = max(float(np.abs(expected[k] - got[k]).max()) for k in trained)
    assert worst <= 1e-6, worst  # 0.0 when measured
    for key in set(expected) - set(trained):  # see the module docstring
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)
