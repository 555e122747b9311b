"""Shared test helpers. The reference figures live in ../shared (beside the repo root)."""
import json
import os
import pathlib

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def reference_models():
    with open(SHARED / "reference_models.json") as f:
        return json.load(f)


def count_params(variables):
    return sum(int(np.prod(v.shape)) for v in variables)
