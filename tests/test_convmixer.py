"""ConvMixer: timm's layout (ordered conv/norm shapes of a block, variant arguments), gradients,
features, a few training steps (parameter counts: test_zoo)."""
import numpy as np
import pytest
import tensorflow as tf

import tfcls
import trainers
from test_trainer_helpers import tiny_dataset
from tfcls.models.convmixer import ConvMixer


def small_convmixer(num_classes=4, **kwargs):
    return ConvMixer(16, 3, kernel_size=5, patch_size=4, num_classes=num_classes, **kwargs)


@pytest.fixture(scope="module")
def model():
    net = small_convmixer()
    net.build((None, 32, 32, 3))
    return net


def test_block_matches_timm_layout(model):
    """timm: Residual(Conv2d(d, d, k, groups=d, padding="same"), act, BN(d)), Conv2d(d, d, 1),
    act, BN(d); weight shapes in that order, torch's (C, 1, k, k) depthwise as (k, k, C, 1)."""
    shapes = [tuple(w.shape) for w in model.blocks[0].weights if "moving" not in w.name]
    assert shapes == [(5, 5, 16, 1), (16,), (16,), (16,), (1, 1, 16, 16), (16,), (16,), (16,)]
    assert [w.name.split("/")[-2] for w in model.stem_conv.weights + model.stem_norm.weights][:3] \
        == ["stem_conv", "stem_conv", "stem_norm"]
    assert model.stem_conv.kernel.shape == (4, 4, 3, 16) and model.stem_conv.strides == (4, 4)
    assert model.blocks[0].dw_norm.epsilon == 1e-5


@pytest.mark.parametrize("name, width, depth, kernel, patch, act", [
    ("convmixer_1536_20", 1536, 20, 9, 7, "gelu"),
    ("convmixer_768_32", 768, 32, 7, 7, "relu"),
    ("convmixer_1024_20", 1024, 20, 9, 14, "gelu")])
def test_variants_follow_timm(name, width, depth, kernel, patch, act):
    net = tfcls.registry.model_entry(name).instantiate(num_classes=1000)  # not built: cheap
    assert len(net.blocks) == depth and net.num_features == width
    assert net.stem_conv.kernel_size == (patch, patch) and net.stem_conv.strides == (patch, patch)
    assert {(b.dwconv.kernel_size, b.act) for b in net.blocks} == {((kernel, kernel), act)}


def test_gradients_reach_every_variable(model):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(np.random.default_rng(0).normal(
            size=(4, 32, 32, 3)).astype(np.float32), training=True) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in grads)
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_features_only_keeps_the_patch_resolution():
    features = small_convmixer(features_only=True)(tf.zeros((1, 64, 64, 3)))
    assert [tuple(f.shape) for f in features] == [(1, 16, 16, 16)] * 2


def test_training_lowers_the_loss():
    config = trainers.TrainConfig.from_flat(
        total_steps=12, global_batch_size=8, optimizer="adamw", learning_rate=0.01,
        schedule="constant", steps_per_loop=4, jit_compile=False)

    def build():
        net = small_convmixer()
        net.build((None, 32, 32, 3))
        return net

    trainer = trainers.ClassificationTrainer(build, config)
    trainer.train(tiny_dataset(8, num_images=8, size=32).take(1).cache())
    losses = [logs["loss"] for logs in trainer.history]
    assert losses[-1] < 0.7 * losses[0], losses
