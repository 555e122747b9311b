"""The depthwise-separable / inverted-residual line: MobileNet v1-v3, EfficientNet, EfficientNetV2.

Parameter counts and keras parity (64 px) of every variant are in test_zoo.py / test_convert.py,
gradients, feature maps and drop path of every family in test_models.py; here: the shared helpers
and blocks, the names and rules of this line, a few training steps, and MobileNet v1's keras
padding at an odd size.
"""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tf_keras.src.applications import mobilenet_v2 as keras_mobilenet_v2
from tf_keras.src.applications import mobilenet_v3 as keras_mobilenet_v3

import tfcls
import trainers
from tfcls.convert import from_keras_applications
from tfcls.layers import (DepthwiseSeparableConv, FusedMBConv, InvertedResidual, SqueezeExcite,
                          make_divisible)
from tfcls.models._mbconv_builder import decode_stage


@pytest.fixture(scope="module")
def v3_small():
    return tfcls.create_model("mobilenet_v3_small_100", num_classes=10, input_size=32)


@pytest.fixture(scope="module")
def effnet_b0():
    return tfcls.create_model("efficientnet_b0", num_classes=10, drop_path_rate=0.2,
                              input_size=32)


def test_make_divisible_pins_keras_values():
    assert make_divisible(32 * 0.35) == 16  # MobileNetV2(alpha=0.35)'s stem
    assert make_divisible(16 * 0.35) == 8
    assert make_divisible(1280 * 1.4) == 1792
    assert make_divisible(18) == 24  # rounding down to 16 loses > 10%: one step up
    assert make_divisible(18, round_limit=0.0) == 16  # EfficientNetV2's rounding
    assert make_divisible(3, divisor=4, min_value=4) == 4
    for v in np.arange(1.0, 700.0, 0.35):
        assert make_divisible(v) == keras_mobilenet_v2._make_divisible(v, 8)
        assert make_divisible(v) == keras_mobilenet_v3._depth(v)


def test_stage_rows_decode_and_typos_fail():
    row = decode_stage("ir r2 k5 s2 e88/24 c40 se0.25 hard_swish")
    assert (row.block, row.repeats, row.kernel, row.stride, row.width) == ("ir", 2, 5, 2, 40)
    assert row.expansion == 88.0 / 24 and row.se_ratio == 0.25 and row.act == "hard_swish"
    for typo in ("ri r2 k3 s1 e6 c16", "ir r2 k3 s1 e6 c16 swishh", "ir r2 k3 s1 c16"):
        with pytest.raises(ValueError):
            decode_stage(typo)


def test_squeeze_excite_scales_channels_by_its_gate():
    x = tf.random.normal([2, 5, 5, 16], seed=1)
    se = SqueezeExcite(4, act="relu", gate="hard_sigmoid")
    y = se(x).numpy()
    assert se.reduce.kernel.shape == (1, 1, 16, 4) and se.expand.kernel.shape == (1, 1, 4, 16)
    s = x.numpy().mean(axis=(1, 2))
    s = np.maximum(s @ se.reduce.kernel.numpy()[0, 0] + se.reduce.bias.numpy(), 0)
    s = s @ se.expand.kernel.numpy()[0, 0] + se.expand.bias.numpy()
    gate = np.clip(s + 3, 0, 6) / 6
    np.testing.assert_allclose(y, x.numpy() * gate[:, None, None, :], atol=1e-5)


def test_blocks_layout_and_residual():
    x = tf.random.normal([2, 9, 9, 16], seed=2)
    block = InvertedResidual(16, 16, expanded_width=64, kernel_size=5, se_width=4,
                             act="swish", drop_path_rate=0.1)
    assert block(x).shape == (2, 9, 9, 16) and block.has_skip
    assert block.expand.conv.kernel.shape == (1, 1, 16, 64)
    assert block.depthwise.conv.depthwise_kernel.shape == (5, 5, 64, 1)
    assert block.project.conv.kernel.shape == (1, 1, 64, 16)
    strided = InvertedResidual(16, 24, expanded_width=None, strides=2)
    assert strided(x).shape == (2, 5, 5, 24) and not strided.has_skip
    assert strided.expand is None and strided.drop_path is None
    fused = FusedMBConv(16, 32, expanded_width=64, strides=2)
    assert fused(x).shape == (2, 5, 5, 32) and fused.expand.conv.kernel.shape == (3, 3, 16, 64)
    single = FusedMBConv(16, 16)
    assert single(x).shape == x.shape and single.project.conv.kernel.shape == (3, 3, 16, 16)
    # keras MobileNet pads bottom/right only: 9 -> 10 -> 4 with a 3x3 valid stride-2 conv.
    ds = DepthwiseSeparableConv(16, 32, strides=2, stride2_padding="bottom_right", residual=False)
    assert ds(x).shape == (2, 4, 4, 32)
    assert DepthwiseSeparableConv(16, 32, strides=2)(x).shape == (2, 5, 5, 32)  # "same"
    assert isinstance(DepthwiseSeparableConv.from_config(ds.get_config()), DepthwiseSeparableConv)


def test_gradients_reach_every_variable(v3_small):
    images = tf.random.normal([2, 32, 32, 3], seed=3)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(v3_small(images, training=True) ** 2)
    grads = tape.gradient(loss, v3_small.trainable_variables)
    missing = [v.name for v, g in zip(v3_small.trainable_variables, grads) if g is None]
    assert not missing
    assert any("se/reduce" in v.name for v in v3_small.trainable_variables)
    assert any("head/pre_logits" in v.name for v in v3_small.trainable_variables)


def test_fused_mbconv_gradients():
    model = tfcls.create_model("efficientnet_v2_b0", num_classes=4, input_size=32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(tf.random.normal([2, 32, 32, 3], seed=4), training=True) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in grads)
    names = [v.name for v in model.trainable_variables]
    assert any("stage1_block1/project/conv/kernel" in n for n in names)
    assert any("stage4_block1/se/expand/kernel" in n for n in names)


def test_drop_path_grows_with_block_index(effnet_b0):
    """EfficientNet's drop connect: rate * i / n over all 16 blocks, on residual blocks only."""
    layers = effnet_b0.drop_path_layers
    by_block = {b.name: b.drop_path for b in effnet_b0.blocks}
    expected = [0.2 * i / 16 for i, b in enumerate(effnet_b0.blocks) if b.has_skip]
    assert len(layers) == len(expected) == 9
    np.testing.assert_allclose([layer.base_rate for layer in layers], expected, rtol=1e-6)
    assert by_block["stage1_block1"] is None and by_block["stage2_block1"] is None
    assert "stage7_block1" in by_block and effnet_b0.blocks[-1].name == "stage7_block1"


def test_block_positions_are_recorded_at_build_time(effnet_b0):
    """keras' block1a, block2a, block2b, ... come from the positions the builder recorded (B0:
    1, 2, 2, 3, 3, 4, 1 blocks per stage), not from our layer names."""
    counts = [sum(1 for stage, _ in effnet_b0.block_positions if stage == s) for s in range(7)]
    assert counts == [1, 2, 2, 3, 3, 4, 1]
    assert [(s, i, n) for s, i, n, _ in effnet_b0.named_blocks()][:4] == [
        (0, 0, 0), (1, 0, 1), (1, 1, 2), (2, 0, 3)]


def test_v3_head_has_pre_logits_and_resets(v3_small):
    assert v3_small.head.pre_logits.kernel.shape == (576, 1024)
    headless = tfcls.create_model("mobilenet_v3_large_minimal_100", num_classes=0, input_size=32)
    assert headless(tf.zeros([1, 32, 32, 3])).shape == (1, 1280)
    headless.reset_classifier(3)
    assert headless(tf.zeros([1, 32, 32, 3])).shape == (1, 3)


def test_training_a_few_steps_lowers_the_loss():
    from test_trainer_helpers import tiny_dataset

    config = trainers.TrainConfig.from_flat(
        total_steps=8, global_batch_size=8, optimizer="adamw", learning_rate=3e-3,
        schedule="constant", steps_per_loop=4, jit_compile=False)
    trainer = trainers.ClassificationTrainer(
        lambda: tfcls.create_model("mobilenet_v1_025", num_classes=4, input_size=32), config)
    trainer.train(tiny_dataset(8, num_images=8, size=32).take(1).cache())
    losses = [logs["loss"] for logs in trainer.history]
    assert losses[-1] < losses[0], losses


def test_mobilenet_v1_matches_keras_at_an_odd_size():
    """65 px: keras pads stride-2 depthwise convs bottom/right only, unlike TF's "same"."""
    size, rng = 65, np.random.default_rng(0)
    keras_model = tf_keras.applications.MobileNet(weights=None, alpha=0.25,
                                                  input_shape=(size, size, 3),
                                                  classifier_activation=None)
    for layer in keras_model.layers:
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n),
                               rng.normal(0, 0.1, n), rng.uniform(0.5, 1.5, n)])
    model = tfcls.create_model("mobilenet_v1_025", input_size=size)
    from_keras_applications(model, keras_model)
    images = rng.normal(0, 1, (2, size, size, 3)).astype(np.float32)
    np.testing.assert_allclose(model(images).numpy(), keras_model(images).numpy(), atol=1e-4)
