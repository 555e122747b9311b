"""The command line end to end: the quickstart on a reduced budget, then evaluate, predict and
export on its model dir; the original collection's flags; TFRecord shards; the config files and
--help (the one-line errors for user mistakes are in test_launch_errors.py).

Every tool runs in a subprocess, as a user runs it. The built-in data set is generated into a
temporary cache dir (TFCLS_CACHE).
"""
import copy
import json
import os
import signal
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def run_tool(tool, *args, env_extra=None, check=True):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    result = subprocess.run([sys.executable, "-m", f"launch.{tool}", *args], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"launch.{tool} failed ({result.returncode}):\n{result.stdout}\n"
                             f"{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory, cache_dir):
    """The quickstart's flags, 3 steps of 16 images: (model_dir, stdout)."""
    model_dir = str(tmp_path_factory.mktemp("runs") / "quickstart")
    result = run_tool("train", "--flagfile=configs/quickstart.flags", "--steps=3",
                      "--batch_size=16", f"--model_dir={model_dir}",
                      env_extra={"TFCLS_CACHE": cache_dir})
    return model_dir, result.stdout


def test_quickstart_writes_checkpoint_logs_and_flags(quickstart):
    model_dir, stdout = quickstart
    assert "built-in shapes data set" in stdout
    assert "step 3/3" in stdout and "Done: validation top-1" in stdout
    assert os.listdir(os.path.join(model_dir, "checkpoints")) == ["3"]
    for split in ("train", "val"):
        events = os.listdir(os.path.join(model_dir, "logs", split))
        assert any(name.startswith("events.out.tfevents") for name in events)
    flags = open(os.path.join(model_dir, "train.flags")).read().split("\n")
    assert "--model=resnet18" in flags and "--steps=3" in flags
    assert json.load(open(os.path.join(model_dir, "run.json")))["class_names"][0] == "circle"


def test_saved_flag_file_reproduces_and_resumes_the_run(quickstart, cache_dir):
    model_dir, _ = quickstart
    result = run_tool("train", f"--flagfile={model_dir}/train.flags", "--steps=4",
                      env_extra={"TFCLS_CACHE": cache_dir})
    assert "step 4/4" in result.stdout and "step 1/4" not in result.stdout
    assert sorted(os.listdir(os.path.join(model_dir, "checkpoints")), key=int)[-1] == "4"


def _train_until_signalled(args, env, after_line, signals):
    """Runs launch.train, sends ``signals`` (one after another, 50 ms apart) once a stdout line
    contains ``after_line``; returns (exit status, stdout)."""
    import time

    process = subprocess.Popen([sys.executable, "-m", "launch.train", *args], cwd=REPO_ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if after_line in line:
                for number in signals:
                    process.send_signal(number)
                    time.sleep(0.05)
                break
        rest, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, "".join(lines) + rest, err


def test_sigterm_saves_a_checkpoint_and_the_same_command_resumes(cache_dir, tmp_path):
    import signal

    model_dir = tmp_path / "run"
    args = ["--flagfile=configs/quickstart.flags", "--steps=400", "--batch_size=16",
            "--steps_per_loop=2", f"--model_dir={model_dir}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1",
           "TFCLS_CACHE": cache_dir}
    # A second SIGTERM while the first one's checkpoint is written is ignored.
    status, out, err = _train_until_signalled(args, env, "step 4/400",
                                              [signal.SIGTERM, signal.SIGTERM])
    assert status == 128 + signal.SIGTERM, out + err
    assert "Traceback" not in err
    stopped = [line for line in out.splitlines() if line.startswith("Stopped by SIGTERM")]
    assert stopped and "run the same command to resume" in stopped[0], out
    step = int(stopped[0].split("at step ")[1].split("/")[0])
    # "checkpoint saved" is said only of a checkpoint complete on disk: that step, restorable
    from tfcls.checkpoint import CheckpointManager
    assert step >= 4 and str(step) in os.listdir(model_dir / "checkpoints")
    assert not [n for n in os.listdir(model_dir / "checkpoints") if "tmp" in n]
    on_disk = CheckpointManager(model_dir / "checkpoints", is_chief=False)
    assert on_disk.latest_step() == step and on_disk.restore(step)[1]["step"] == step
    status, out, err = _train_until_signalled(args, env, f"step {step + 2}/400",
                                              [signal.SIGINT])
    assert f"Resumed from step {step} of 400" in out, out + err
    assert f"step {step + 2}/400" in out and f"step {step}/400" not in out.split("Resumed")[1]
    assert status == 128 + signal.SIGINT and "Stopped by SIGINT" in out, out + err


def test_a_refused_resume_leaves_the_run_record_intact(quickstart, cache_dir):
    """Another model or class count in an existing run's folder is refused before anything in it
    is rewritten, so evaluate/predict/export still serve the original run."""
    model_dir, _ = quickstart
    names = ("run.json", "train.flags")
    before = {n: open(os.path.join(model_dir, n), "rb").read() for n in names}
    for extra, says in ((["--model_name=ResNet50"], "holds a run of resnet18"),
                        (["--num_classes=3"], "error:")):
        # --steps=1 bounds the damage should the refusal ever break
        result = run_tool("train", f"--flagfile={model_dir}/train.flags", *extra, "--steps=1",
                          env_extra={"TFCLS_CACHE": cache_dir}, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.startswith("error:") or "\nerror:" in result.stderr
        assert says in result.stderr, result.stderr
    assert before == {n: open(os.path.join(model_dir, n), "rb").read() for n in names}


def test_unwritable_destinations_and_offline_weights_are_one_line_errors(quickstart, cache_dir,
                                                                        tmp_path):
    """Exports and evaluation results aimed where nothing can be written (here: below a regular
    file, which even root cannot write into) and --pretrained=keras without network each fail
    with one error line and status 2, before any long work."""
    model_dir, _ = quickstart
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    for tool, flag in (("export", "--export_dir"), ("evaluate", "--output_dir")):
        result = run_tool(tool, f"--model_dir={model_dir}", f"{flag}={blocker}/out",
                          env_extra={"TFCLS_CACHE": cache_dir}, check=False)
        assert result.returncode == 2, result.stderr[-2000:]
        assert "error: cannot write" in result.stderr and "Traceback" not in result.stderr
    offline = {"TFCLS_CACHE": cache_dir, "HTTPS_PROXY": "http://127.0.0.1:9",
               "https_proxy": "http://127.0.0.1:9", "KERAS_HOME": str(tmp_path / "keras")}
    result = run_tool("train", "--model=resnet50", "--pretrained=keras", "--img_size=32",
                      "--steps=1", f"--model_dir={tmp_path / 'run'}", env_extra=offline,
                      check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "needs internet access" in errors[0]
    assert "Traceback" not in result.stderr


def test_evaluate_agrees_with_training(quickstart, cache_dir, tmp_path):
    model_dir, stdout = quickstart
    # no TFCLS_CACHE: the run's data dir, split and seed come from its run.json
    result = run_tool("evaluate", f"--model_dir={model_dir}", "--checkpoint=best",
                      f"--output_dir={tmp_path}")
    report = json.load(open(tmp_path / "evaluation.json"))
    # it names the checkpoint it loaded; its top-1 is the one training recorded with it
    line = next(l for l in result.stdout.splitlines() if l.startswith("Evaluating"))
    assert "(best, raw weights)" in line
    step = int(line.split("checkpoint step ")[1].split(" ")[0])
    from tfcls.checkpoint import CheckpointManager
    recorded = CheckpointManager(os.path.join(model_dir, "checkpoints"),
                                 is_chief=False).read_meta(step)["metrics"]["top1"]
    assert abs(report["top1"] - recorded) < 1e-4
    assert report["num_images"] == 300 and len(report["per_class_accuracy"]) == 6
    assert np.sum(report["confusion_matrix"]) == 300
    assert Image.open(tmp_path / "confusion_matrix.png").size[0] > 200
    assert "top-5" in result.stdout


def test_predict_and_exported_savedmodel_agree_without_tfcls(quickstart, cache_dir, tmp_path):
    model_dir, _ = quickstart
    images = os.path.join(cache_dir, "shapes-v1", "val", "star")
    predicted = json.loads(run_tool("predict", f"--model_dir={model_dir}", "--format=json",
                                    "--top_k=6", images).stdout)["predictions"]
    assert len(predicted) == 50
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    good = os.path.join(images, sorted(os.listdir(images))[0])
    shutil.copy(good, mixed / "a_good.png")
    Image.new("RGB", (64, 64), (200, 10, 10)).save(mixed / "b_broken.jpg")
    (mixed / "b_broken.jpg").write_bytes((mixed / "b_broken.jpg").read_bytes()[:200])
    out = json.loads(run_tool("predict", f"--model_dir={model_dir}", "--format=json",
                              str(mixed)).stdout)
    assert [p["file"] for p in out["predictions"]] == [str(mixed / "a_good.png")]
    assert out["skipped"] == [str(mixed / "b_broken.jpg")]  # in place: no prediction shifted
    # the same image in a batch of 1 and of 50: oneDNN may pick other kernels per batch size
    # (0.12440738 vs 0.12440734 on a 2-core AVX2 EPYC), so probabilities agree to 1e-5
    alone = out["predictions"][0]["predictions"]
    among_50 = [p for p in predicted if p["file"] == good][0]["predictions"][:5]
    assert [p["class"] for p in alone] == [p["class"] for p in among_50]
    assert [p["probability"] for p in alone] == pytest.approx(
        [p["probability"] for p in among_50], abs=1e-5)
    export_dir = str(tmp_path / "export")
    run_tool("export", f"--model_dir={model_dir}", f"--export_dir={export_dir}", "--tflite")
    assert os.path.exists(os.path.join(export_dir, "model.tflite"))
    files = [p["file"] for p in predicted[:8]]
    script = (
        "import json, sys, tensorflow as tf\n"
        "assert 'tfcls' not in sys.modules\n"
        f"serve = tf.saved_model.load({export_dir!r}).signatures['serving_default']\n"
        f"files = {files!r}\n"
        "out = serve(image_bytes=tf.constant([open(f, 'rb').read() for f in files]))\n"
        "names = [n.decode() for n in out['class_names'].numpy()]\n"
        "print(json.dumps({'names': names, 'probs': out['probabilities'].numpy().tolist()}))\n")
    plain = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    assert plain.returncode == 0, plain.stderr[-2000:]
    served = json.loads(plain.stdout.strip().splitlines()[-1])
    for result, probs in zip(predicted, served["probs"]):
        for prediction in result["predictions"]:
            index = served["names"].index(prediction["class"])
            assert abs(probs[index] - prediction["probability"]) < 1e-4
    _tflite_agrees_with_savedmodel(export_dir, files)


def _tflite_agrees_with_savedmodel(export_dir, files):
    """model.tflite takes raw [0, 255] RGB pixels at the model's size and gives the SavedModel's
    probabilities for the same pixels; its side file states the contract; another shape fails."""
    import tensorflow as tf

    with open(os.path.join(export_dir, "model.tflite.json")) as f:
        contract = json.load(f)
    _, size, _, _ = contract["input"]["shape"]
    assert contract["input"]["range"] == [0, 255] and contract["class_names"]
    serve = tf.saved_model.load(export_dir).signatures["serving_images"]
    interpreter = tf.lite.Interpreter(os.path.join(export_dir, "model.tflite"))
    interpreter.allocate_tensors()
    (image_input,) = interpreter.get_input_details()
    probabilities = next(d for d in interpreter.get_output_details()
                         if tuple(d["shape"]) == (1, len(contract["class_names"])))
    for file in files[:4]:
        image = Image.open(file).convert("RGB").resize((size, size), Image.BILINEAR)
        pixels = np.asarray(image, np.float32)[np.newaxis]
        interpreter.set_tensor(image_input["index"], pixels)
        interpreter.invoke()
        lite = interpreter.get_tensor(probabilities["index"])[0]
        saved = serve(images=tf.constant(pixels))["probabilities"].numpy()[0]
        assert abs(lite - saved).max() <= 1e-4
        assert saved.max() < 0.999 or lite.argmax() == saved.argmax()
    with pytest.raises(ValueError):
        interpreter.set_tensor(image_input["index"], np.zeros([1, 2 * size, 2 * size, 3],
                                                              np.float32))


def test_original_collection_flags_and_corrupt_files(small_folder, tmp_path):
    result = run_tool("train", "--model_name=ResNet50", "--img_size=32", "--epochs=1",
                      "--batch_size=8", "--val_split=0.25", f"--data_dir={small_folder}",
                      f"--model_dir={tmp_path / 'run'}")
    assert "skipped 3 non-image or corrupt file(s)" in result.stdout
    assert "Training resnet50" in result.stdout and "on 12 images (4 for validation)" in result.stdout
    assert "step 1/1" in result.stdout


def test_training_from_tfrecord_shards_and_a_bad_label_offset(small_folder, tmp_path):
    shards = tmp_path / "shards"
    run_tool("make_tfrecords", f"--data_dir={small_folder}", f"--out={shards}", "--shards=2",
             "--val_split=0.25")
    result = run_tool("train", "--model=resnet18", "--img_size=32", "--steps=2", "--batch_size=4",
                      f"--data_dir={shards}", f"--model_dir={tmp_path / 'run'}")
    assert "on 12 images in 2 train shards" in result.stdout, result.stdout
    assert "4 for validation from 1 validation shards" in result.stdout
    assert "step 2/2" in result.stdout and "Done: validation top-1" in result.stdout
    bad = run_tool("train", "--model=resnet18", "--img_size=32", "--steps=2", "--batch_size=4",
                   f"--data_dir={shards}", "--label_offset=1", f"--model_dir={tmp_path / 'bad'}",
                   check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "error: Label -1 is outside [0, 2) in " in bad.stderr and "train-0000" in bad.stderr


def test_efficientnet_b0_recipe_runs_as_written_on_a_small_folder(small_folder, tmp_path):
    """The headline command; only the size and batch shrink to fit 16 images on a CPU."""
    result = run_tool("train", "--flagfile=configs/efficientnet_b0.flags",
                      f"--data_dir={small_folder}", "--epochs=1", "--img_size=32",
                      "--batch_size=8", f"--model_dir={tmp_path / 'b0'}")
    assert "Training efficientnet_b0" in result.stdout and "step 1/1" in result.stdout
    assert "Done: validation top-1" in result.stdout
    flags = open(tmp_path / "b0" / "train.flags").read().split("\n")
    for recipe_flag in ("--optimizer=rmsprop", "--lr_schedule=exponential", "--ema_decay=0.9999",
                        "--drop_path_rate=0.2", "--label_smoothing=0.1",
                        "--autoaugment=imagenet"):
        assert recipe_flag in flags


@pytest.mark.parametrize("config", sorted(os.listdir(REPO_ROOT / "configs")))
def test_config_files_name_known_flags_and_models(config):
    import tfcls
    from launch import train  # noqa: F401  (defines the training flags)
    from launch.flags import FLAGS, project_flags

    args = FLAGS.read_flags_from_files([f"--flagfile={REPO_ROOT / 'configs' / config}"])
    assert args, f"{config} sets no flag"
    parsed = FLAGS.__class__()  # a fresh registry with the same flags, to leave FLAGS untouched
    for name, flag in project_flags().items():
        parsed[name] = copy.deepcopy(flag)
    parsed(["train", *args])  # raises on an unknown flag or a bad value
    assert tfcls.registry.resolve_name(parsed["model"].value)


def test_help_lists_the_projects_flags_first_and_grouped():
    full = run_tool("train", "--helpfull").stdout  # exits 0 (absl's own exit status is 1)
    headers = [line for line in full.splitlines() if line.endswith(":") and line[:1] != " "]
    assert headers[:5] == ["flags:", "1. tfcls model flags:", "2. tfcls data flags:",
                           "3. tfcls optimization flags:", "4. tfcls runtime flags:"], headers
    model_group = full.split("2. tfcls data flags:")[0]
    assert "--model:" in model_group and "--img_size:" in model_group
    assert "--lr:" not in model_group
    short = run_tool("train", "--help").stdout
    for flag in ("--model:", "--data_dir:", "--lr:", "--precision:"):
        assert flag in short
    assert "--test_tmpdir" not in short



def test_help_exits_zero_in_every_tool():
    """--help prints the usage and exits 0 in every tool (absl exits 1 after printing it;
    --helpfull in train: the test above)."""
    tools = sorted(name[:-3] for name in os.listdir(REPO_ROOT / "launch")
                   if name.endswith(".py") and 'if __name__ == "__main__":' in
                   (REPO_ROOT / "launch" / name).read_text())
    assert {"train", "evaluate", "predict", "export", "make_tfrecords"} <= set(tools)
    for tool in tools:
        result = run_tool(tool, "--help", check=False)
        assert result.returncode == 0, (tool, result.stderr[-2000:])
        assert "flags:" in result.stdout and "error:" not in result.stderr, tool
