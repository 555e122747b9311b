"""The shared model interface over the registry (every family's smallest variant in the default
run, the others heavy): gradients and tracking, feature maps at every stride, drop path set alike
by create_model and the Trainer. Then ResNet v1/v2 and VGG in detail.

Parameter counts against the references are checked for every registered model in test_zoo.py.
"""
import io
import contextlib
import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfcls
import trainers
from conftest import count_params, heavy_unless_light
from tfcls.registry import model_entry

ALL_MODELS = tfcls.list_models()


def _min_size(name):
    return tfcls.model_info(name)["min_resolution"]


def _layout(entry):
    """Each family's code paths apart: ResNet's three blocks, VGG with and without batch norm."""
    arch = entry.variant.arch
    return entry.family, str(arch.get("block")), arch.get("batch_norm")


@pytest.mark.parametrize("name", heavy_unless_light(ALL_MODELS, group=_layout))
def test_gradients_reach_every_variable_and_nothing_escapes_tracking(name):
    # seeded init: batch-norm statistics of 2 images on 1x1 maps make some random draws of the
    # deepest nets (EfficientNetV2-L) give non-finite gradients; the check is on the wiring
    tf_keras.utils.set_random_seed(0)
    size = _min_size(name)
    model = tfcls.create_model(name, num_classes=5, input_size=size)
    x = tf.random.normal([2, size, size, 3], seed=1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x, training=True)))
    used = {id(v) for v in tape.watched_variables()}
    tracked = {id(v) for v in model.trainable_variables}
    assert used == tracked  # nothing used in the forward pass escapes tracking, nothing is idle
    grads = tape.gradient(loss, model.trainable_variables)
    missing = [v.name for v, g in zip(model.trainable_variables, grads) if g is None]
    assert not missing
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    assert model(tf.zeros([1, 2 * size, 2 * size, 3])).shape == (1, 5)  # any larger size runs


@pytest.mark.parametrize("name", heavy_unless_light(ALL_MODELS))
def test_features_only_gives_every_stride(name):
    """One map per stride from the stem's (2, or 4 for a patchify stem) to 32, at the variant's
    resolution (stride: 2 ** round(log2(input / map side)), as 'valid' and ceil-rounding layers
    move sides by a pixel or two), the last one num_features wide, and no head."""
    size = tfcls.model_info(name)["resolution"]
    model = tfcls.create_model(name, features_only=True, input_size=size)
    maps = model(tf.zeros([1, size, size, 3]))
    strides = [round(math.log2(size / m.shape[1])) for m in maps]
    if model_entry(name).family == "ConvMixer":  # isotropic: the patch embedding and last block
        assert strides == [round(math.log2(model.patch_size))] * 2
    else:
        assert strides == list(range(strides[0], 6)) and strides[0] <= 2, strides
    assert maps[-1].shape[-1] == model.num_features
    assert model.head is None and not any("head/" in v.name for v in model.variables)


@pytest.mark.parametrize("name", heavy_unless_light(ALL_MODELS))
def test_trainer_sets_the_drop_path_rates_create_model_sets(name):
    """One route: TrainConfig.drop_path_rate and create_model(drop_path_rate=) give each DropPath
    the same rate (the family's depth rule); a family without DropPath refuses a rate."""
    if not model_entry(name).instantiate(num_classes=4).drop_path_layers:  # unbuilt: cheap
        with pytest.raises(ValueError, match="no DropPath layers"):
            tfcls.create_model(name, drop_path_rate=0.1)
        return
    size = _min_size(name)
    expected = [layer.base_rate for layer in tfcls.create_model(
        name, num_classes=4, input_size=size, drop_path_rate=0.3).drop_path_layers]
    assert max(expected) > 0.2 and min(expected) < 0.1  # grows with depth
    config = trainers.TrainConfig(total_steps=2, global_batch_size=2, drop_path_rate=0.3,
                                  jit_compile=False)
    trainer = trainers.ClassificationTrainer(
        tfcls.create_model(name, num_classes=4, input_size=size), config)
    assert [layer.base_rate for layer in trainer.drop_path_layers] == pytest.approx(expected)
    assert [float(layer.rate.numpy()) for layer in trainer.drop_path_layers] == pytest.approx(
        expected)


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnet50_v2", "vgg11_bn"])
def test_forward_at_default_resolution(name):
    model = tfcls.create_model(name, num_classes=7)
    out = model(tf.random.normal([1, 224, 224, 3]))
    assert out.shape == (1, 7) and out.dtype == tf.float32
    assert np.isfinite(out.numpy()).all()


@pytest.fixture(scope="module")
def resnet50_small():
    return tfcls.create_model("resnet50", num_classes=10, input_size=64)


def test_forward_features_and_head_compose_to_call(resnet50_small):
    x = tf.random.normal([2, 64, 64, 3])
    features = resnet50_small.forward_features(x)
    assert features.shape == (2, 2, 2, 2048)
    logits = resnet50_small.forward_head(features)
    np.testing.assert_allclose(logits, resnet50_small(x), rtol=1e-5, atol=1e-5)
    assert resnet50_small.forward_head(features, pre_logits=True).shape == (2, 2048)


def test_reset_classifier_keeps_the_backbone():
    model = tfcls.create_model("resnet18", num_classes=10, input_size=32)
    x = tf.random.normal([2, 32, 32, 3])
    before = model.forward_head(model.forward_features(x), pre_logits=True)
    backbone = count_params(model.trainable_variables) - (512 * 10 + 10)
    model.reset_classifier(3)
    assert model(x).shape == (2, 3)
    assert count_params(model.trainable_variables) == backbone + 512 * 3 + 3
    np.testing.assert_allclose(model.forward_head(model.forward_features(x), pre_logits=True),
                               before, rtol=1e-6)
    model.reset_classifier(0)
    assert model(x).shape == (2, 512)
    assert count_params(model.trainable_variables) == backbone


@pytest.mark.parametrize("kwargs", [dict(num_classes=0), dict(include_top=False)])
@pytest.mark.parametrize("name,width", [("resnet50_v2", 2048), ("vgg11", 512)])
def test_headless_models_return_pooled_features(name, width, kwargs):
    model = tfcls.create_model(name, input_size=32, **kwargs)
    assert model(tf.zeros([2, 48, 48, 3])).shape == (2, width)


def test_drop_path_rates_grow_linearly_with_depth():
    model = tfcls.create_model("resnet50", drop_path_rate=0.2, input_size=32)
    rates = [layer.base_rate for layer in model.drop_path_layers]
    np.testing.assert_allclose(rates, np.linspace(0.0, 0.2, 16), rtol=1e-6)
    np.testing.assert_allclose([l.rate.numpy() for l in model.drop_path_layers], rates, rtol=1e-6)


def test_summary_names_blocks_by_stage_and_index(resnet50_small):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        resnet50_small.summary()
    text = out.getvalue()
    for name in ("stem", "stage1_block1", "stage3_block6", "stage4_block3", "head"):
        assert name in text
    expected = 25_583_592 - (2048 * 1000 + 1000) + (2048 * 10 + 10)  # reference, 10-class head
    assert f"Trainable params: {expected} " in text


def test_too_small_input_is_refused_clearly(resnet50_small):
    with pytest.raises(ValueError, match="too small.*at least 32"):
        resnet50_small(tf.zeros([1, 16, 16, 3]))
    with pytest.raises(ValueError, match="too small"):
        tfcls.create_model("resnet18", input_size=16)
    with pytest.raises(ValueError, match="3 colour channels"):
        resnet50_small(tf.zeros([1, 32, 32, 1]))


def test_vgg_refuses_drop_path():
    with pytest.raises(ValueError, match="no residual blocks"):
        tfcls.create_model("vgg11", drop_path_rate=0.1, input_size=32)
