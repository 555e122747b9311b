"""Shared test helpers. The reference figures (parameter counts, the original collection's names)
are a copy kept in tests/data/reference_models.json, so a plain clone runs every test."""
import json
import os
import pathlib

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
