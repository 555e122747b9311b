"""ConvNeXt: gradients, feature strides, drop path linear in depth, the head's pre-logits
LayerNorm, and a few training steps (the keras twins' counts and ports: test_zoo/test_convert)."""
import numpy as np
import pytest
import tensorflow as tf

import trainers
from test_trainer_helpers import tiny_dataset
from tfcls.layers import ClassifierHead, DropPath
from tfcls.models.convnext import ConvNeXt


def small_convnext(num_classes=4, **kwargs):
    """The ConvNeXt layout in miniature: blocks 1/1/2/1, widths 8/16/24/32."""
    return ConvNeXt((1, 1, 2, 1), (8, 16, 24, 32), num_classes=num_classes, **kwargs)


@pytest.fixture(scope="module")
def model():
    net = small_convnext(drop_path_rate=0.3)
    net.build((None, 32, 32, 3))
    return net


def _images(n=4, size=32, seed=0):
    return np.random.default_rng(seed).normal(0, 1, (n, size, size, 3)).astype(np.float32)


def test_gradients_reach_every_variable(model):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(_images(), training=True) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in grads)
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_drop_path_linear_in_depth(model):
    rates = [layer.base_rate for layer in model.drop_path_layers]
    np.testing.assert_allclose(rates, [0.0, 0.075, 0.15, 0.225, 0.3])


def test_block_layout_and_initial_layer_scale(model):
    block = model.stages[2][0]
    assert block.dwconv.depthwise_kernel.shape == (7, 7, 24, 1)
    assert block.pwconv1.kernel.shape == (24, 96) and block.pwconv2.kernel.shape == (96, 24)
    np.testing.assert_allclose(block.layer_scale.gamma.numpy(), 1e-6)
    assert block.norm.epsilon == 1e-6 and model.head.norm.epsilon == 1e-6
    assert model.stem_conv.kernel.shape == (4, 4, 3, 8)
    assert model.downsamples[0][1].kernel.shape == (2, 2, 8, 16)


def test_features_only_strides():
    features = small_convnext(features_only=True)(_images(1, 64))
    assert [f.shape[1] for f in features] == [16, 8, 4, 2]
    assert [f.shape[-1] for f in features] == [8, 16, 24, 32]


def test_head_pre_logits_norm_is_optional():
    plain = ClassifierHead(3, name="head")
    normed = ClassifierHead(3, norm="layer", name="head")
    x = tf.random.normal((2, 4, 4, 5))
    assert plain(x).shape == normed(x).shape == (2, 3)
    assert [w.name for w in plain.weights] == ["head/fc/kernel:0", "head/fc/bias:0"]
    assert len(normed.weights) == 4
    pooled = normed(x, pre_logits=True).numpy()  # pooled, then normalized over channels
    np.testing.assert_allclose(pooled.mean(-1), 0, atol=1e-5)


def test_training_lowers_the_loss():
    config = trainers.TrainConfig.from_flat(
        total_steps=12, global_batch_size=8, optimizer="adamw", learning_rate=0.01,
        schedule="constant", steps_per_loop=4, jit_compile=False)

    def build():
        net = small_convnext(drop_path_rate=0.1)
        net.build((None, 32, 32, 3))
        return net

    trainer = trainers.ClassificationTrainer(build, config)
    assert len(trainer.drop_path_layers) == 5 and all(
        isinstance(layer, DropPath) for layer in trainer.drop_path_layers)
    trainer.train(tiny_dataset(8, num_images=8, size=32).take(1).cache())
    losses = [logs["loss"] for logs in trainer.history]
    assert losses[-1] < 0.7 * losses[0], losses
