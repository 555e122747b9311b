"""Every registered variant, driven by the registry: a new variant is tested once registered.

Its trainable parameter count must equal tests/data/reference_models.json (a copy of the project's
reference figures), and it must run at its smallest valid input size. Family files add the rest
(gradients, feature maps, keras parity). The largest variants are marked heavy (see conftest).
"""
import gc

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfcls
from conftest import count_params, heavy_unless_light
from tfcls.registry import SEED_ALIASES

ALL_MODELS = tfcls.list_models()


def test_every_registered_variant_has_a_reference(reference_models):
    missing = sorted(set(ALL_MODELS) - set(reference_models["models"]))
    assert not missing, f"no reference figures for {missing}"


def test_seed_aliases_point_at_reference_names(reference_models):
    assert SEED_ALIASES == reference_models["seed_aliases"]


@pytest.mark.parametrize("name", heavy_unless_light(ALL_MODELS))
def test_parameter_count_equals_reference_and_smallest_input_runs(name, reference_models):
    reference = reference_models["models"][name]
    info = tfcls.model_info(name)
    assert info["params"] == reference["trainable_params"]
    assert info["resolution"] == reference["default_resolution"]
    size = info["min_resolution"]
    model = tfcls.create_model(name, input_size=size)
    counted = count_params(model.trainable_variables)
    assert counted == reference["trainable_params"], \
        f"{name}: {counted:,} trainable parameters, {reference['reference']} has " \
        f"{reference['trainable_params']:,}"
    logits = model(tf.random.normal([1, size, size, 3], seed=0))
    assert logits.shape == (1, 1000) and logits.dtype == tf.float32
    assert np.isfinite(logits.numpy()).all()
    with pytest.raises(ValueError, match="too small"):
        model(tf.zeros([1, size - 1, size - 1, 3]))
    del model
    tf_keras.backend.clear_session()
    gc.collect()
