"""GhostNet (Han et al., 2020): the Ghost module against a numpy recomputation, the bottleneck's
shortcuts, squeeze-excite widths, gradients, feature maps, drop path and a few training steps.

Parameter counts of the three variants against timm are in test_zoo.py. One model is built, at
32 px (ghostnet_050, 4 classes), and the training test, last, trains that one; the others are
only constructed (no variables) where widths suffice.
"""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfcls
import trainers
from tfcls.layers import get_activation, make_divisible
from tfcls.models.ghostnet import GhostBottleneck, GhostModule, GhostNet
from test_trainer_helpers import tiny_dataset


@pytest.fixture(scope="module")
def ghostnet_050():
    return tfcls.create_model("ghostnet_050", num_classes=4, input_size=32)


@pytest.fixture(scope="module")
def ghostnet_100():
    """Constructed only (no variables): its widths and drop path rates."""
    return GhostNet(width=1.0, num_classes=10, drop_path_rate=0.2)


def _randomize_norms(layer, seed):
    """Non-trivial batch-norm statistics and affine weights, so inference differs from identity."""
    rng = np.random.default_rng(seed)
    for bn in layer.submodules:
        if isinstance(bn, tf_keras.layers.BatchNormalization):
            n = bn.gamma.shape[0]
            bn.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(size=n),
                            rng.normal(size=n), rng.uniform(0.5, 2.0, n)])


def _bn(x, bn, relu):
    gamma, beta, mean, var = (w.numpy() for w in (bn.gamma, bn.beta, bn.moving_mean,
                                                    bn.moving_variance))
    y = (x - mean) / np.sqrt(var + bn.epsilon) * gamma + beta
    return np.maximum(y, 0) if relu else y


@pytest.mark.parametrize("filters, ratio, relu", [(7, 2, True), (8, 2, False), (7, 3, True)])
def test_ghost_module_is_primary_and_cheap_concatenated_then_sliced(filters, ratio, relu):
    """PyTorch: cat([primary(x), Conv2d(init, init * (ratio - 1), 3, pad 1, groups=init)(.)])
    [:, :filters]; cheap output o reads primary channel o // (ratio - 1)."""
    x = tf.random.normal([2, 6, 5, 5], seed=1)
    module = GhostModule(filters, ratio=ratio, act="relu" if relu else None)
    module(x)
    _randomize_norms(module, seed=filters + ratio)
    out = module(x, training=False).numpy()
    init = -(-filters // ratio)
    assert out.shape == (2, 6, 5, filters) and module.primary_width == init

    primary = _bn(x.numpy() @ module.primary.conv.kernel.numpy()[0, 0], module.primary.bn, relu)
    kernel = module.cheap.conv.depthwise_kernel.numpy()  # (3, 3, init, ratio - 1)
    assert kernel.shape == (3, 3, init, ratio - 1)
    padded = np.pad(primary, [(0, 0), (1, 1), (1, 1), (0, 0)])
    cheap = np.zeros(primary.shape[:3] + (init * (ratio - 1),))
    for o in range(cheap.shape[-1]):
        group, m = divmod(o, ratio - 1)
        for i in range(3):
            for j in range(3):
                cheap[..., o] += padded[:, i:i + 6, j:j + 5, group] * kernel[i, j, group, m]
    cheap = _bn(cheap, module.cheap.bn, relu)
    expected = np.concatenate([primary, cheap], axis=-1)[..., :filters]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_bottleneck_shortcuts_follow_stride_and_widths():
    x = tf.random.normal([2, 8, 8, 16], seed=2)
    same = GhostBottleneck(16, 48, 16, kernel_size=3, drop_path_rate=0.1)
    assert same(x).shape == (2, 8, 8, 16)
    assert same.has_skip and not same.shortcut and same.depthwise is None
    assert same.drop_path.base_rate == pytest.approx(0.1)

    strided = GhostBottleneck(16, 72, 24, kernel_size=5, strides=2, se_width=20)
    assert strided(x).shape == (2, 4, 4, 24) and not strided.has_skip
    assert strided.drop_path is None
    assert strided.depthwise.conv.depthwise_kernel.shape == (5, 5, 72, 1)
    assert strided.depthwise.conv.strides == (2, 2)
    dw, pw = strided.shortcut
    assert dw.conv.depthwise_kernel.shape == (5, 5, 16, 1) and dw.conv.strides == (2, 2)
    assert pw.conv.kernel.shape == (1, 1, 16, 24) and dw.act is None and pw.act is None
    assert strided.se.reduce.kernel.shape == (1, 1, 72, 20)
    assert strided.ghost1.act == "relu" and strided.ghost2.act is None

    wider = GhostBottleneck(16, 48, 24)  # stride 1, 16 -> 24: projected shortcut, no depthwise
    assert wider(x).shape == (2, 8, 8, 24) and len(wider.shortcut) == 2
    assert wider.shortcut[0].conv.strides == (1, 1) and wider.depthwise is None

    config = strided.get_config()
    clone = GhostBottleneck.from_config(config)
    assert clone.get_config() == config


def test_identity_bottleneck_adds_its_input():
    """With ghost2's batch norms zeroed the residual branch is 0: output == input."""
    x = tf.random.normal([2, 6, 6, 16], seed=3)
    block = GhostBottleneck(16, 32, 16)
    block(x)
    for bn in block.ghost2.submodules:
        if isinstance(bn, tf_keras.layers.BatchNormalization):
            bn.gamma.assign(tf.zeros_like(bn.gamma))
            bn.beta.assign(tf.zeros_like(bn.beta))
    np.testing.assert_allclose(block(x, training=False).numpy(), x.numpy(), atol=1e-6)


def test_squeeze_excite_widths_and_hard_sigmoid_gate(ghostnet_100, ghostnet_050):
    """timm's _SE_LAYER: make_divisible(mid * 0.25, divisor=4) with a relu6(x + 3) / 6 gate."""
    for model, expected in [(ghostnet_100, [20, 32, 120, 168, 168, 240, 240]),
                            (ghostnet_050, [12, 16, 60, 84, 84, 120, 120])]:
        with_se = [b for b in model.blocks if b.se is not None]
        assert [b.se.reduced_width for b in with_se] == expected
        assert all(b.se.reduced_width == make_divisible(b.mid_width * 0.25, 4) for b in with_se)
        assert [b.name for b in with_se] == [
            "stage3_block1", "stage3_block2", "stage4_block5", "stage4_block6",
            "stage5_block1", "stage5_block3", "stage5_block5"]
        assert {(b.se_act, b.se_gate) for b in with_se} == {("relu", "hard_sigmoid")}
    # At 0.5x, 36 * 0.25 = 9 rounds to 8, which loses more than 10%: one step up to 12.
    assert make_divisible(9, 4) == 12
    gate = get_activation("hard_sigmoid")
    np.testing.assert_allclose(gate(tf.constant([-4.0, -3.0, 0.0, 1.0, 3.0, 5.0])).numpy(),
                               [0.0, 0.0, 0.5, 4 / 6, 1.0, 1.0], atol=1e-6)  # not keras' 0.2x


def test_widths_of_the_table_scale_by_four(ghostnet_100):
    assert ghostnet_100.stem.filters == 16 and ghostnet_100.num_features == 960
    assert [b.mid_width for b in ghostnet_100.blocks] == [
        16, 48, 72, 72, 120, 240, 200, 184, 184, 480, 672, 672, 960, 960, 960, 960]
    assert ghostnet_100.head.pre_logits_width == 1280
    assert ghostnet_100.head.drop_rate == pytest.approx(0.2)
    wide = GhostNet(width=1.3, num_classes=10)
    assert wide.stem.filters == 20 and wide.num_features == 1248
    assert [b.out_width for b in wide.blocks][:5] == [20, 32, 32, 52, 52]
    assert wide.head.pre_logits_width == 1280  # not scaled


def test_gradients_reach_every_variable(ghostnet_050):
    images = tf.random.normal([2, 32, 32, 3], seed=4)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(ghostnet_050(images, training=True)))
    used = {id(v) for v in tape.watched_variables()}
    assert used == {id(v) for v in ghostnet_050.trainable_variables}
    grads = tape.gradient(loss, ghostnet_050.trainable_variables)
    missing = [v.name for v, g in zip(ghostnet_050.trainable_variables, grads) if g is None]
    assert not missing, missing
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    names = [v.name for v in ghostnet_050.trainable_variables]
    assert any("stage5_block5/se/reduce" in n for n in names)
    assert any("head/pre_logits" in n for n in names)


def test_feature_maps_and_pre_logits(ghostnet_050):
    features = ghostnet_050.forward_stages(tf.zeros([1, 64, 64, 3]))
    assert [64 // f.shape[1] for f in features] == [2, 4, 8, 16, 32]
    assert [f.shape[-1] for f in features] == [8, 12, 20, 56, 480]
    pooled = ghostnet_050.forward_head(features[-1], pre_logits=True)
    assert pooled.shape == (1, 1280) and pooled.numpy().min() >= 0  # ReLU after the 1x1 head
    assert ghostnet_050.pretrained_cfg["mean"] == (0.485, 0.456, 0.406)
    assert GhostNet(width=0.5, features_only=True).head is None
    assert ghostnet_050.head.pre_logits.kernel.shape == (480, 1280)


def test_drop_path_rates_grow_with_the_block_index(ghostnet_100):
    """timm's MBConv convention (GhostNet itself has none): rate * i / n on identity blocks."""
    expected = [0.2 * i / 16 for i, b in enumerate(ghostnet_100.blocks) if b.has_skip]
    assert len(ghostnet_100.drop_path_layers) == len(expected) == 11
    np.testing.assert_allclose([d.base_rate for d in ghostnet_100.drop_path_layers], expected)


def test_trainer_finds_drop_path_and_trains(ghostnet_050):
    """Two loops of four SGD steps on one batch (one traced loop; tracing takes most of the
    time): the second loop's mean loss is below the first's, drop-path masks and all."""
    config = trainers.TrainConfig.from_flat(
        total_steps=8, global_batch_size=8, optimizer="sgd", learning_rate=0.05,
        schedule="constant", steps_per_loop=4, jit_compile=False, drop_path_rate=0.1, seed=0,
        weight_decay=0.0, label_smoothing=0.0)
    trainer = trainers.ClassificationTrainer(ghostnet_050, config)
    assert len(trainer.drop_path_layers) == 11
    rates = [layer.rate.numpy() for layer in trainer.drop_path_layers]  # the family's i / n rule
    expected = [0.1 * i / 16 for i, b in enumerate(ghostnet_050.blocks) if b.has_skip]
    np.testing.assert_allclose(rates, expected, rtol=1e-6)
    trainer.train(tiny_dataset(8, num_images=8, size=32).take(1).cache())
    losses = [logs["loss"] for logs in trainer.history]
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses
