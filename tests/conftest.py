"""Shared test helpers. The reference figures (parameter counts, the original collection's names)
are a copy kept in tests/data/reference_models.json, so a plain clone runs every test."""
import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tfcls  # noqa: E402, F401, I001  (first: it sets tf_keras and oneDNN before TF loads)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPUs, so MirroredStrategy tests run in-process. This must happen before anything
# initializes TF's devices; pytest imports conftest before any test module.
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE_MODELS = REPO_ROOT / "tests" / "data" / "reference_models.json"


@pytest.fixture(scope="session")
def reference_models():
    with open(REFERENCE_MODELS) as f:
        return json.load(f)


def count_params(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


def two_cpu_strategy():
    """MirroredStrategy over the 2 logical CPUs. Reduction through one device, not collectives:
    collective instance keys restart with every strategy, and a later strategy in the same process
    then fails with "Shape mismatch in the collective instance" (tensorflow/tensorflow#62790)."""
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"],
                                          cross_device_ops=tf.distribute.ReductionToOneDevice())


# The default run (`python -m pytest -q`) checks every family with its smallest variants; the
# others (up to multi-GB ports, minutes of building) carry the `heavy` marker, which setup.cfg
# deselects and CI runs separately (`python -m pytest -q -m heavy`, see .ci/run).
LIGHT_PARAMS = 1_000_000


def _smallest_per_group(names, group):
    entries = tfcls.registry.model_entries()
    params = {name: entries[name].variant.params for name in names}
    smallest = {}
    for name in names:
        key = group(entries[name])
        if key not in smallest or params[name] < params[smallest[key]]:
            smallest[key] = name
    return set(smallest.values())


def heavy_unless_light(names, group=lambda entry: entry.family):
    """``names`` as pytest parameters, each group's smallest variant and every variant of at most
    LIGHT_PARAMS parameters in the default run, the others marked heavy."""
    entries = tfcls.registry.model_entries()
    light = _smallest_per_group(names, group)
    light |= {name for name in names if entries[name].variant.params <= LIGHT_PARAMS}
    return [name if name in light else pytest.param(name, marks=pytest.mark.heavy, id=name)
            for name in names]


def smallest_per_family(names=None):
    """The smallest variant of each family among ``names`` (default: all), sorted: the default
    run's registry-wide tests (gradients, feature maps, drop path)."""
    return sorted(_smallest_per_group(names or tfcls.list_models(), lambda entry: entry.family))


def one_per_code_path(names):
    """Each family's smallest variant per keras code path (ResNet v1 and v2 apart) in the default
    run, the others heavy: variants of one path differ only in the widths and depths of a table."""
    light = _smallest_per_group(
        names, lambda entry: (entry.family, "V2" in (entry.variant.keras_twin or "")))
    return [name if name in light else pytest.param(name, marks=pytest.mark.heavy, id=name)
            for name in names]


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):  # the command-line tests' data (test_launch*.py)
    """Two classes of 8 images, plus a corrupt JPEG, a truncated PNG and a text file."""
    root = tmp_path_factory.mktemp("small")
    from tfcls.data import make_shapes_dataset

    shapes = make_shapes_dataset(str(root / "shapes"), num_classes=2, train_per_class=8,
                                 val_per_class=0, image_size=32)
    data_dir = os.path.join(shapes, "train")
    first = os.path.join(data_dir, "circle")
    with open(os.path.join(first, "broken.jpg"), "wb") as f:
        f.write(b"not a jpeg at all")
    png = open(os.path.join(first, sorted(os.listdir(first))[0]), "rb").read()
    with open(os.path.join(first, "truncated.png"), "wb") as f:
        f.write(png[: len(png) // 2])
    with open(os.path.join(first, "notes.txt"), "w") as f:
        f.write("not an image")
    return data_dir
