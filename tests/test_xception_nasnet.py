"""Xception and NASNet-A: gradients, feature strides, drop path, training, input-size errors.

Parameter counts and keras parity are tested from the registry (test_zoo.py, test_convert.py).
"""
import numpy as np
import pytest
import tensorflow as tf

import tfcls
import trainers
from tfcls.layers import set_drop_path_scale
from tfcls.models.nasnet import NASNet
from test_trainer_helpers import tiny_data

SIZE = 32


@pytest.fixture(scope="module")
def xception():
    return tfcls.create_model("xception", num_classes=4, input_size=SIZE, drop_path_rate=0.2)


@pytest.fixture(scope="module")
def nasnet():
    return tfcls.create_model("nasnet_mobile", num_classes=4, input_size=SIZE, drop_path_rate=0.3)


@pytest.fixture(scope="module")
def small_nasnet():
    """NASNet-A 1 @ 96: the same cells, 7 of them (both cell kinds, both adjustments), so that
    the training checks stay quick on a CPU (tracing the trainer's loop over nasnet_mobile's 16
    cells takes minutes)."""
    model = NASNet(96, 1, 8, False, num_classes=4, drop_path_rate=0.3)
    model.build((None, SIZE, SIZE, 3))
    return model


def _check_gradients(model):
    images, labels = tiny_data(2, SIZE)
    with tf.GradientTape() as tape:
        logits = model(images, training=True)
        loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True))
    grads = tape.gradient(loss, model.trainable_variables)
    unused = [v.name for v, g in zip(model.trainable_variables, grads) if g is None]
    assert not unused, unused
    assert all(np.isfinite(g.numpy()).all() for g in grads)


def _feature_shapes(model):
    features = model.forward_stages(tf.zeros([1, SIZE, SIZE, 3]))
    return [tuple(f.shape[1:]) for f in features]


def test_xception_gradients_reach_every_variable(xception):
    _check_gradients(xception)


def test_xception_features_at_strides_2_to_32(xception):
    # valid 3x3 convs in the stem (32 -> 15 -> 13), then "same" stride-2 steps
    assert _feature_shapes(xception) == [(13, 13, 64), (7, 7, 128), (4, 4, 256), (2, 2, 728),
                                         (1, 1, 2048)]
    features_only = tfcls.create_model("xception", input_size=SIZE, features_only=True)
    assert [f.shape[-1] for f in features_only(tf.zeros([1, SIZE, SIZE, 3]))] == \
        [64, 128, 256, 728, 2048]


def test_xception_drop_path_linear_over_its_residual_blocks(xception):
    layers = xception.drop_path_layers
    assert len(layers) == 12  # keras' block2 ... block13
    np.testing.assert_allclose([l.base_rate for l in layers], np.linspace(0, 0.2, 12), atol=1e-7)
    assert set_drop_path_scale(xception, 0.5) == 12
    np.testing.assert_allclose([l.rate.numpy() for l in layers], np.linspace(0, 0.1, 12),
                               atol=1e-7)
    set_drop_path_scale(xception, 1.0)
    default = tfcls.create_model("xception", input_size=SIZE)
    assert all(l.base_rate == 0 for l in default.drop_path_layers)


def test_xception_smaller_input_is_refused(xception):
    with pytest.raises(ValueError, match="too small"):
        xception(tf.zeros([1, SIZE - 1, SIZE - 1, 3]))
    with pytest.raises(ValueError, match="too small"):
        tfcls.create_model("xception", input_size=SIZE - 1)


def test_nasnet_gradients_reach_every_variable(nasnet):
    _check_gradients(nasnet)


def test_nasnet_features_at_strides_2_to_32(nasnet):
    # NASNet-A 4 @ 1056: cells of 11, 22, 44, 88, 176 filters; reductions concat 4, normals 6
    assert _feature_shapes(nasnet) == [(15, 15, 32), (8, 8, 44), (4, 4, 264), (2, 2, 528),
                                       (1, 1, 1056)]


def test_nasnet_scheduled_drop_path_per_cell_operation(nasnet, small_nasnet):
    """Every non-identity operation of every cell has a DropPath at the cell's depth ratio
    (k + 1) / T (slim's ScheduledDropPath); set_drop_path_scale drives them all."""
    assert len(nasnet.cells) == 2 + 3 * 4 + 2
    assert len(nasnet.drop_path_layers) == 4 * 9 + 12 * 8
    for k, cell in enumerate(nasnet.cells):
        assert [d.base_rate for d in cell.drop_paths.values()] == \
            pytest.approx([0.3 * (k + 1) / len(nasnet.cells)] * len(cell.OPS))
    nasnet, cells = small_nasnet, small_nasnet.cells
    for k, cell in enumerate(cells):
        assert [d.base_rate for d in cell.drop_paths.values()] == \
            pytest.approx([0.3 * (k + 1) / len(cells)] * len(cell.OPS))
    images = tiny_data(4, SIZE)[0]
    set_drop_path_scale(nasnet, 0.0)
    quiet = [nasnet(images, training=True).numpy() for _ in range(2)]
    np.testing.assert_allclose(quiet[0], quiet[1], atol=1e-5)  # deterministic without drop path
    set_drop_path_scale(nasnet, 2.0)  # deepest cell at 0.6
    assert float(cells[-1].drop_paths["left1"].rate.numpy()) == pytest.approx(0.6)
    dropped = nasnet(images, training=True).numpy()
    assert np.abs(dropped - quiet[0]).max() > 1e-3
    set_drop_path_scale(nasnet, 1.0)
    np.testing.assert_allclose(nasnet(images).numpy(), nasnet(images).numpy())  # inference: off


def test_nasnet_large_keeps_the_inputs_across_reductions():
    """skip_reduction: the cell after a reduction reads the output before it, halved."""
    large = tfcls.registry.model_entry("nasnet_large").instantiate(num_classes=0)
    adjust = {c.block_id: c.adjust_kind for c in large.cells}
    assert adjust["stem_1"] is None and adjust["stem_2"] == "reduce" and adjust["0"] == "reduce"
    assert adjust["1"] == "project" and adjust["reduce_6"] == "project"
    assert adjust["7"] == "reduce" and adjust["8"] == "project"
    assert [c.skip_input for c in large.cells].count(True) == 2
    mobile = tfcls.registry.model_entry("nasnet_mobile").instantiate(num_classes=0)
    adjust = {c.block_id: c.adjust_kind for c in mobile.cells}
    assert adjust["5"] == "reduce" and adjust["6"] == "project"  # mobile does not skip


def test_nasnet_smaller_input_is_refused(nasnet):
    with pytest.raises(ValueError, match="too small"):
        nasnet(tf.zeros([1, SIZE - 1, SIZE - 1, 3]))


def test_nasnet_trains_with_scheduled_drop_path_and_lowers_the_loss(small_nasnet):
    """Runs last (it trains the module's small NASNet-A), drop path ramped over training."""
    images, labels = tiny_data(8, SIZE)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8).take(1).cache()
    config = trainers.TrainConfig.from_flat(
        total_steps=4, global_batch_size=8, optimizer="adamw", learning_rate=3e-3,
        schedule="constant", steps_per_loop=2, jit_compile=False, drop_path_rate=0.1,
        drop_path_schedule="linear")
    trainer = trainers.ClassificationTrainer(small_nasnet, config)
    assert len(trainer.drop_path_layers) == 4 * 9 + 3 * 8
    trainer.train(data)
    losses = [logs["loss"] for logs in trainer.history]
    assert losses[-1] < losses[0], losses
    deepest = trainer.drop_path_layers[-1]  # update t of T uses t/T of the rate: all of it last
    assert float(deepest.rate.numpy()) == pytest.approx(0.1)
