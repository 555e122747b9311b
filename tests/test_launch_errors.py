"""One clear line for every user mistake ``launch.train`` meets: status 2, no traceback, nothing
written into the model dir. All cases run in one subprocess (TensorFlow imports once)."""
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from conftest import REPO_ROOT

pytestmark = pytest.mark.slow


FLAG_ERRORS = [
    (["--model=resnet5"], "Unknown model 'resnet5'"),
    (["--model=resnet18", "--img_size=16", "--batch_size=8"], "too small for resnet18"),
    (["--model=resnet18", "--img_size=32", "--batch_size=8", "--grad_accum_steps=3"],
     "must be a multiple"),
    (["--data_dir=/no/such/dir"], "does not exist"),
    (["--data_dir={empty}"], "No class folders"),
    (["--data_dir={one_class}"], "needs at least two"),
    (["--no_such_flag=1"], "Unknown command line flag 'no_such_flag'"),
    (["--batch_size=many"], "flag --batch_size=many"),
    (["--flagfile=/no/such/file.flags"], "error: Unable to open flagfile: [Errno 2] No such "
     "file or directory: '/no/such/file.flags'"),
    (["--lr=-0.1"], "error: flag --lr=-0.1: must be a positive, finite number"),
    (["--lr=nan"], "error: flag --lr=nan: must be a positive, finite number"),
    (["--mixup=-0.2", "--batch_size=4"], "--mixup is a Beta distribution's alpha"),
    (["--random_erasing=1.5", "--batch_size=4"], "--random_erasing is a probability"),
    (["--randaugment_ops=2", "--randaugment_magnitude=11", "--batch_size=4"],
     "--randaugment_magnitude in [0, 10]"),
    (["--color_jitter=2", "--batch_size=4"], "--color_jitter is a strength in [0, 1]"),
    (["--model=resnet18", "--model_name=ResNet50"], "disagree: give the model once"),
    (["--data=cifar10"], "--data takes tfds:<name>"),
    (["--data=tfds:no_such_set"], "No TFDS data set 'no_such_set'"),
    (["--data_dir={bare_shards}"], "has no classes.txt (launch.make_tfrecords writes one)"),
    (["--autoaugment=imagenet", "--randaugment_ops=2", "--batch_size=4"],
     "--autoaugment and --randaugment_ops both set"),
    # checked with the other flags, naming the flag and the value typed (tfcls issue 22)
    (["--img_size=0"], "error: flag --img_size=0: must be a positive number of pixels"),
    (["--img_size=-32"], "error: flag --img_size=-32: must be a positive number of pixels"),
    (["--min_crop_scale=2"], "error: flag --min_crop_scale=2.0: must be in (0, 1]"),
    (["--min_crop_scale=0"], "error: flag --min_crop_scale=0.0: must be in (0, 1]"),
    (["--steps=-1"], "error: flag --steps=-1: must be a positive integer"),
    (["--drop_path_rate=1.5"], "error: flag --drop_path_rate=1.5: must be in [0, 1)"),
    (["--momentum=1.2"], "error: flag --momentum=1.2: must be in [0, 1)"),
    (["--jit_compile=maybe"], "error: flag --jit_compile=maybe: 'maybe' is not auto, true or "
     "false"),
    (["--pretrained=/no/such/weights.h5"], "error: flag --pretrained=/no/such/weights.h5: must "
     "be one of keras, timm, torchvision or the path of a weight file that exists"),
    # reaches tfcls.create_model(pretrained=...), whose ValueError becomes the error line
    (["--model=resnet18", "--img_size=32", "--batch_size=4", "--pretrained=timm"], "error: "),
    (["--model=resnet18", "--img_size=32", "--batch_size=4", "--pretrained={weights_file}"],
     "error: "),
]


def _bare_shards(root):
    """TFRecord shards with no classes.txt beside them."""
    from tfcls.data import tfrecord

    image = root / "bare.png"
    Image.new("RGB", (8, 8)).save(image)
    tfrecord.write_shards([str(image)] * 4, [0, 1, 0, 1], str(root / "bare"), "train", 2)
    return str(root / "bare")


def _one_class_dir(root):
    folder = root / "one" / "only"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(folder / f"{i}.png")
    return str(root / "one")


# Runs launch.train once per argument list in one process (TensorFlow imports once), flags reset
# between runs; an uncaught exception escapes and fails the test with its traceback.
_IN_PROCESS = """
import contextlib, io, json, sys
from absl import flags
from launch import train
results = []
for argv in json.loads(sys.argv[1]):
    flags.FLAGS.unparse_flags()
    sys.argv = ["launch.train", *argv]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            train.run()
            status = 0
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else 1
    results.append({"status": status, "stdout": out.getvalue(), "stderr": err.getvalue()})
print("RESULTS " + json.dumps(results))
"""


@pytest.fixture(scope="module")
def flag_error_runs(small_folder, tmp_path_factory):
    """(result, model_dir) of every FLAG_ERRORS case, as launch.train meets them."""
    root = tmp_path_factory.mktemp("flag_errors")
    (root / "empty").mkdir()
    (root / "weights.h5").write_text("not a weight file")
    fill = {"{empty}": str(root / "empty"), "{one_class}": _one_class_dir(root),
            "{bare_shards}": _bare_shards(root), "{weights_file}": str(root / "weights.h5")}
    argvs, model_dirs = [], []
    for index, (args, _) in enumerate(FLAG_ERRORS):
        for placeholder, folder in fill.items():
            args = [a.replace(placeholder, folder) for a in args]
        if not any(a.startswith("--data_dir") for a in args):
            args.append(f"--data_dir={small_folder}")
        model_dirs.append(root / f"run{index}")
        argvs.append([*args, f"--model_dir={model_dirs[-1]}"])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", _IN_PROCESS, json.dumps(argvs)], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.split("RESULTS ")[-1])
    return list(zip(results, model_dirs))


@pytest.mark.parametrize("case", range(len(FLAG_ERRORS)), ids=[
    "model", "img_size", "batch", "missing_dir", "empty_dir", "one_class", "unknown_flag",
    "bad_value", "missing_flagfile", "negative_lr", "nan_lr", "negative_mixup", "erasing_above_one",
    "randaugment_magnitude", "color_jitter", "model_twice", "data_not_tfds", "unknown_tfds",
    "shards_without_classes", "two_augment_policies", "zero_img_size", "negative_img_size",
    "crop_scale_above_one", "crop_scale_zero", "negative_steps", "drop_path_above_one",
    "momentum_above_one", "jit_compile_word", "missing_weight_file", "pretrained_timm",
    "pretrained_file"])
def test_flag_errors_are_one_clear_line(case, flag_error_runs):
    result, model_dir = flag_error_runs[case]
    message = FLAG_ERRORS[case][1]
    assert result["status"] == 2, result["stderr"][-2000:]
    assert message in result["stderr"]
    assert not model_dir.exists()  # nothing written before the error
    assert "Traceback" not in result["stderr"] + result["stdout"]
    errors = [line for line in result["stderr"].splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "ERROR" not in errors[0], errors
