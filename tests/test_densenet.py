"""DenseNet: gradients, feature strides, torchvision's DenseNet-161 layout, the memory-efficient
(recomputed) dense layers against the plain ones, and a few training steps."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfcls
import trainers
from test_trainer_helpers import tiny_dataset
from tfcls.models.densenet import DenseNet


def small_densenet(num_classes=4, block_config=(2, 2, 2, 2), **kwargs):
    """Four dense blocks of two layers, growth 8: the DenseNet-121 layout in miniature."""
    return DenseNet(block_config, growth_rate=8, stem_width=16, num_classes=num_classes, **kwargs)


@pytest.fixture(scope="module")
def model():
    net = small_densenet()
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


def test_features_only_strides():
    net = small_densenet(features_only=True)
    features = net(_images(1, 64))
    assert [f.shape[1] for f in features] == [32, 16, 8, 4, 2]
    # widths: stem, then each dense block's output (before the halving transition), final
    assert [f.shape[-1] for f in features] == [16, 32, 32, 32, 32]


def test_densenet161_is_torchvision_layout():
    """torchvision densenet161: growth 48, a 96-wide stem, bottleneck 4 * 48, blocks 6/12/36/24,
    transitions halving 384 -> 192, 768 -> 384, 2112 -> 1056, final 2208, eps 1e-5."""
    net = tfcls.models.densenet.DenseNet((6, 12, 36, 24), 48, 96, torchvision=True)
    assert net.stem.conv.filters == 96 and net.stem.bn.epsilon == 1e-5
    assert [len(block) for block in net.blocks] == [6, 12, 36, 24]
    assert {(layer.conv1.filters, layer.conv2.filters) for b in net.blocks for layer in b} == {
        (192, 48)}
    assert [t[1].filters for t in net.transitions] == [192, 384, 1056]
    assert net.num_features == 2208


def test_drop_path_is_refused():
    with pytest.raises(ValueError, match="no residual"):
        tfcls.create_model("densenet121", drop_path_rate=0.1)


def _moving_stats(net):
    return [v.numpy().copy() for v in net.non_trainable_variables]


@pytest.mark.parametrize("compiled", [False, True])
def test_memory_efficient_equals_plain(compiled):
    """Same weights; recomputed bottlenecks give the same logits, gradients and batch-norm moving
    statistics (eagerly and inside a tf.function), in training and in inference. In float64: in
    float32, keras' fused batch-norm kernel and tf.nn's ops round differently (gradients differ by
    ~2e-5 of their scale between keras' own fused and unfused batch norms, and more where
    gradients nearly cancel, e.g. a beta followed by another batch norm)."""
    # keras' batch norm runs unfused in float64, no rounding noise. A global policy set by another
    # test (even "float32") would override set_floatx, so set the policy itself.
    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy("float64")
    try:
        net = small_densenet(block_config=(1, 2, 1, 1))  # tracing cost grows with depth
        net.build((None, 32, 32, 3))
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)
    assert net.variables[0].dtype == tf.float64
    start = [v.numpy() for v in net.variables]
    start_stats = _moving_stats(net)
    images = _images()

    def step(x):
        with tf.GradientTape() as tape:
            logits = net(x, training=True)
            loss = tf.reduce_sum(logits * tf.range(1.0, 5.0, dtype=logits.dtype))
        return logits, tape.gradient(loss, net.trainable_variables), net(x, training=False)

    results = {}
    for efficient in (False, True):
        for var, value in zip(net.variables, start):
            var.assign(value)
        net.memory_efficient = efficient
        run = tf.function(step) if compiled else step
        logits, grads, inference = run(tf.constant(images, tf.float64))
        results[efficient] = (logits.numpy(), [g.numpy() for g in grads], inference.numpy(),
                              _moving_stats(net))
    plain, efficient = results[False], results[True]
    np.testing.assert_allclose(efficient[0], plain[0], atol=1e-5)
    for a, b in zip(efficient[1], plain[1]):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(efficient[2], plain[2], atol=1e-5)
    for a, b in zip(efficient[3], plain[3]):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    assert not np.allclose(plain[3][0], start_stats[0])  # statistics did move


def test_memory_efficient_training_lowers_the_loss():
    config = trainers.TrainConfig.from_flat(
        total_steps=12, global_batch_size=8, optimizer="adamw", learning_rate=0.01,
        schedule="constant", steps_per_loop=4, jit_compile=False)
    trainer = trainers.ClassificationTrainer(
        lambda: _built(small_densenet(block_config=(1, 1, 1, 1), memory_efficient=True)), config)
    trainer.train(tiny_dataset(8, num_images=8, size=32).take(1).cache())
    losses = [logs["loss"] for logs in trainer.history]
    assert losses[-1] < 0.7 * losses[0], losses


def _built(net):
    net.build((None, 32, 32, 3))
    return net
