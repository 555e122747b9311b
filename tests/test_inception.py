"""Inception v1/v3/v4 and Inception-ResNet v1/v2: the branch machinery, layouts written from the
reference definitions (torchvision GoogLeNet, timm inception_v4, facenet-pytorch
InceptionResnetV1), auxiliary heads, gradients, feature maps, drop path and a few training steps.
Parameter counts and the keras ports of inception_v3 / inception_resnet_v2 are checked by
test_zoo.py and test_convert.py."""
import numpy as np
import pytest
import tensorflow as tf

import tfcls
import trainers
from tfcls.layers import (Branches, CeilMaxPool2D, ConvNormAct, build_branches, conv_layers,
                          set_drop_path_scale, symmetric_padding)
from tfcls.models import inception_resnet, inception_v1, inception_v4
from tfcls.models._inception import inception_pool, torch_conv
from tfcls.models.inception_resnet import InceptionResidual
from tfcls.registry import model_entry
from test_trainer_helpers import tiny_data


def kernel_shapes(layer):
    return [tuple(conv.conv.kernel.shape) for conv in conv_layers(layer)]


def built_block(spec, in_channels, size=9, conv=torch_conv, pool=inception_pool):
    block = build_branches(spec, conv, pool, name="block")
    out = block(tf.zeros([1, size, size, in_channels]))
    return block, out


def build(name, size, **kwargs):
    """The registered variant, built by one eager call (cheaper than create_model's trace)."""
    model = model_entry(name).instantiate(**kwargs)
    model(tf.zeros([1, size, size, 3]))
    return model


@pytest.fixture(scope="module")
def googlenet():
    """inception_v1 with its auxiliary heads, 5 classes, 64 px."""
    return build("inception_v1", 64, num_classes=5, aux_logits=True)


@pytest.fixture(scope="module")
def inception_resnet_v1():
    return build("inception_resnet_v1", 75, num_classes=4, drop_path_rate=0.2)


# --- the machinery -------------------------------------------------------------------------


def test_branches_concatenate_in_order_with_nested_splits():
    spec = [[(2, 1)], [(3, 1), [[(4, (1, 3))], [(5, (3, 1))]]], ["avg"]]
    block, out = built_block(spec, in_channels=6)
    assert out.shape == (1, 9, 9, 2 + 4 + 5 + 6)
    assert block.branch_names == ["branch0", "branch1", "branch2"]
    assert isinstance(block.branches[1][1], Branches)
    assert kernel_shapes(block) == [(1, 1, 6, 2), (1, 1, 6, 3), (1, 3, 3, 4), (3, 1, 3, 5)]
    # Each branch lands in its own channel slice: zero one branch's output and only it changes.
    block.branches[0][0].conv.kernel.assign(tf.zeros_like(block.branches[0][0].conv.kernel))
    block.branches[0][0].bn.beta.assign(tf.fill([2], 7.0))
    out = block(tf.random.normal([1, 9, 9, 6]))
    np.testing.assert_allclose(out[..., :2].numpy(), 7.0, rtol=1e-6)  # = beta after a zero conv
    assert not np.allclose(out[..., 2:6].numpy(), 7.0)


def test_asymmetric_kernels_pad_per_axis_and_keep_size():
    assert symmetric_padding((1, 7)) == (0, 3) and symmetric_padding((3, 1)) == (1, 0)
    assert symmetric_padding(3) == 1 and symmetric_padding(7, 2) == 6  # unchanged for ints
    conv = ConvNormAct(4, (1, 7), name="c")
    assert conv(tf.zeros([1, 5, 9, 2])).shape == (1, 5, 9, 4)
    x = tf.random.normal([1, 5, 9, 2], seed=4)  # (0, 3) on each side
    bare = ConvNormAct(4, (1, 7), norm=None, act=None)
    got = bare(x)
    want = tf.nn.conv2d(tf.pad(x, [[0, 0], [0, 0], [3, 3], [0, 0]]), bare.conv.kernel, 1,
                        "VALID")
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert ConvNormAct.from_config(conv.get_config()).kernel_size == (1, 7)


def test_batch_norm_without_scale_has_no_gamma():
    conv = ConvNormAct(4, 3, norm_scale=False, norm_eps=1e-3, name="c")
    conv(tf.zeros([1, 5, 5, 2]))
    assert [w.name.split("/")[-1] for w in conv.bn.weights] == [
        "beta:0", "moving_mean:0", "moving_variance:0"]


@pytest.mark.parametrize("size,pool,stride,expected", [
    (112, 3, 2, 56), (57, 3, 2, 28), (14, 3, 2, 7), (7, 2, 2, 4), (8, 2, 2, 4)])
def test_ceil_max_pool_matches_torch_ceil_mode(size, pool, stride, expected):
    assert expected == -(-(size - pool) // stride) + 1  # torch: ceil((n - k) / s) + 1
    x = tf.random.normal([1, size, size, 2])
    out = CeilMaxPool2D(pool, stride)(x)
    assert out.shape == (1, expected, expected, 2)
    np.testing.assert_allclose(out[0, -1, -1].numpy(),  # the last, partial window
                               x[0, (expected - 1) * stride:, (expected - 1) * stride:]
                               .numpy().max(axis=(0, 1)))


def test_inception_residual_scales_the_branch_and_skips_act_when_asked():
    branches = build_branches([[(3, 1)]], torch_conv, inception_pool, name="b")
    projection = ConvNormAct(5, 1, use_bias=True, norm=None, act=None, name="conv")
    block = InceptionResidual(branches, projection, scale=0.1, act=None, name="block")
    x = tf.random.normal([2, 4, 4, 5])
    y = block(x)
    residual = projection(branches(x))
    np.testing.assert_allclose(y.numpy(), (x + 0.1 * residual).numpy(), atol=1e-5)
    assert block.get_config()["scale"] == 0.1


# --- layouts written from the reference definitions ------------------------------------------


def test_googlenet_module_layout_is_torchvision():
    """torchvision Inception(192, 64, 96, 128, 16, 32, 32): branch order 1x1, 3x3, "5x5" (a 3x3
    in torchvision), pool projection."""
    block, out = built_block(inception_v1._BLOCKS[0][1], 192, conv=inception_v1._conv,
                             pool=inception_v1._pool)
    assert kernel_shapes(block) == [(1, 1, 192, 64), (1, 1, 192, 96), (3, 3, 96, 128),
                                    (1, 1, 192, 16), (3, 3, 16, 32), (1, 1, 192, 32)]
    assert out.shape[-1] == 256 and out.shape[1] == 9


def test_inception_v4_blocks_layout_is_timm():
    block, out = built_block(inception_v4._BLOCKS[1][1], in_channels=160)  # Mixed4a
    assert kernel_shapes(block) == [(1, 1, 160, 64), (3, 3, 64, 96), (1, 1, 160, 64),
                                    (1, 7, 64, 64), (7, 1, 64, 64), (3, 3, 64, 96)]
    assert out.shape == (1, 7, 7, 192)
    block, out = built_block(inception_v4._INCEPTION_C, in_channels=1536, size=3)
    assert kernel_shapes(block) == [
        (1, 1, 1536, 256),                                        # branch0
        (1, 1, 1536, 384), (1, 3, 384, 256), (3, 1, 384, 256),    # branch1_0, 1_1a, 1_1b
        (1, 1, 1536, 384), (3, 1, 384, 448), (1, 3, 448, 512),    # branch2_0, 2_1, 2_2
        (1, 3, 512, 256), (3, 1, 512, 256),                       # branch2_3a, 2_3b
        (1, 1, 1536, 256)]                                        # branch3 (after avg pool)
    assert out.shape == (1, 3, 3, 1536)
    names = [name for name, _ in inception_v4._BLOCKS]
    assert names.count("inception_a1") == 1 and len(names) == 3 + 4 + 1 + 7 + 1 + 3


def test_inception_resnet_v1_layout_is_facenet(inception_resnet_v1):
    model = inception_resnet_v1
    blocks = [layer for layer in model.body if isinstance(layer, InceptionResidual)]
    assert [b.name for b in blocks] == ([f"block35_{i}" for i in range(1, 6)]
                                        + [f"block17_{i}" for i in range(1, 11)]
                                        + [f"block8_{i}" for i in range(1, 7)])
    block17 = blocks[5]  # facenet Block17: 1x1 128 | 1x1 128, 1x7 128, 7x1 128; 256 -> 896 (bias)
    assert kernel_shapes(block17) == [(1, 1, 896, 128), (1, 1, 896, 128), (1, 7, 128, 128),
                                      (7, 1, 128, 128), (1, 1, 256, 896)]
    assert block17.projection.conv.use_bias and block17.projection.bn is None
    assert [b.scale for b in blocks] == [0.17] * 5 + [0.1] * 10 + [0.2] * 5 + [1.0]
    assert blocks[-1].act_fn is None and blocks[-2].act_fn is not None
    stem = [tuple(layer.conv.kernel.shape) for layer in model.body[:7] if hasattr(layer, "conv")]
    assert stem == [(3, 3, 3, 32), (3, 3, 32, 32), (3, 3, 32, 64), (1, 1, 64, 80),
                    (3, 3, 80, 192), (3, 3, 192, 256)]
    assert model.head.fc.kernel.shape == (1792, 4) and model.head.drop_rate == 0.6


# --- auxiliary heads --------------------------------------------------------------------------


def test_auxiliary_heads_only_in_training(googlenet):
    x = tf.random.normal([2, 64, 64, 3])
    outputs = googlenet(x, training=True)
    assert isinstance(outputs, tuple) and len(outputs) == 3
    assert all(o.shape == (2, 5) and o.dtype == tf.float32 for o in outputs)
    assert googlenet.aux_loss_weights == (0.3, 0.3)
    for training in (False, None):
        logits = googlenet(x, training=training)
        assert isinstance(logits, tf.Tensor) and logits.shape == (2, 5)


def test_reset_classifier_resets_the_auxiliary_heads_too():
    model = model_entry("inception_v1").instantiate(num_classes=5, aux_logits=True)
    model(tf.zeros([1, 32, 32, 3]), training=True)
    model.reset_classifier(3)
    assert [o.shape for o in model(tf.zeros([1, 32, 32, 3]), training=True)] == [(1, 3)] * 3
    model.reset_classifier(0)
    out = model(tf.zeros([1, 32, 32, 3]), training=True)
    assert out.shape == (1, 1024) and model.aux_loss_weights == ()


def test_inception_v3_auxiliary_head_and_its_smallest_input():
    """torchvision's InceptionAux (5x5/3 pool, then a 5x5 valid conv) needs mixed7 at 17x17,
    i.e. 299 px."""
    model = model_entry("inception_v3").instantiate(num_classes=3, aux_logits=True)
    logits, aux = model(tf.random.normal([1, 299, 299, 3]), training=True)
    assert logits.shape == aux.shape == (1, 3) and model.aux_loss_weights == (0.3,)
    with pytest.raises(ValueError, match="too small"):
        model(tf.zeros([1, 298, 298, 3]), training=True)
    shapes = [tuple(f.shape[1:]) for f in model.forward_stages(tf.zeros([1, 107, 107, 3]))]
    assert shapes == [(51, 51, 64), (23, 23, 192), (11, 11, 288), (5, 5, 768), (2, 2, 2048)]


# --- gradients, feature maps, drop path ------------------------------------------------------


def _assert_every_variable_gets_a_gradient(model, x, aux=False):
    with tf.GradientTape() as tape:
        outputs = model(x, training=True)
        outputs = outputs if aux else (outputs,)
        loss = sum(tf.reduce_mean(tf.square(o)) for o in outputs)
    grads = tape.gradient(loss, model.trainable_variables)
    missing = [v.name for v, g in zip(model.trainable_variables, grads)
               if g is None or not np.any(g.numpy())]
    assert not missing, missing[:5]


def test_gradients_reach_every_variable_of_googlenet_and_its_aux_heads(googlenet):
    _assert_every_variable_gets_a_gradient(googlenet, tf.random.normal([2, 64, 64, 3]), aux=True)


def test_gradients_reach_every_variable_of_inception_resnet(inception_resnet_v1):
    set_drop_path_scale(inception_resnet_v1, 0.0)  # a dropped block would get no gradient
    try:
        _assert_every_variable_gets_a_gradient(inception_resnet_v1,
                                               tf.random.normal([2, 75, 75, 3]))
    finally:
        set_drop_path_scale(inception_resnet_v1, 1.0)


def test_feature_maps_at_strides_2_to_32(googlenet):
    expected = [(32, 32, 64), (16, 16, 192), (8, 8, 480), (4, 4, 832), (2, 2, 1024)]
    maps = googlenet.forward_stages(tf.zeros([1, 64, 64, 3]))
    assert [tuple(m.shape[1:]) for m in maps] == expected
    model = model_entry("inception_v1").instantiate(features_only=True)
    maps = model(tf.zeros([1, 32, 32, 3]))  # features_only: no head, no auxiliary heads
    assert [m.shape[-1] for m in maps] == [c for _, _, c in expected] and model.head is None


def test_inception_resnet_feature_maps(inception_resnet_v1):
    maps = inception_resnet_v1.forward_stages(tf.zeros([1, 107, 107, 3]))
    assert [tuple(m.shape[1:]) for m in maps] == [
        (51, 51, 64), (23, 23, 192), (11, 11, 256), (5, 5, 896), (2, 2, 1792)]


def test_drop_path_is_linear_in_depth(inception_resnet_v1):
    rates = [layer.base_rate for layer in inception_resnet_v1.drop_path_layers]
    np.testing.assert_allclose(rates, np.linspace(0, 0.2, 21), atol=1e-7)
    # Inception-ResNet-v2: 10 + 20 + 10 residual blocks (checked unbuilt: no variables needed).
    v2 = model_entry("inception_resnet_v2").instantiate(drop_path_rate=0.3)
    rates = [layer.base_rate for layer in v2.drop_path_layers]
    np.testing.assert_allclose(rates, np.linspace(0, 0.3, 40), atol=1e-7)


@pytest.mark.parametrize("name", ["inception_v1", "inception_v3", "inception_v4"])
def test_non_residual_inceptions_refuse_drop_path(name):
    with pytest.raises(ValueError, match="drop_path_rate"):
        tfcls.create_model(name, drop_path_rate=0.1)


# A miniature Inception-ResNet from the family's own class (the registered variants take too
# long to trace for a unit test): stem, a 35x35-style residual block, a reduction, a 17x17 block.
_V = "valid"
_TINY_STEM = [(8, 3, 2, _V), (8, 3, 1, _V), (16, 3), "max", (16, 1, 1, _V), (24, 3, 1, _V)]
_TINY_STAGES = [
    ("block35", 2, [[(8, 1)], [(8, 1), (8, 3)]], 0.17),
    ("mixed_6a", None, [[(16, 3, 2, _V)], ["max"]], None),
    ("block17", 2, [[(8, 1)], [(8, 1), (8, (1, 7)), (8, (7, 1))]], 0.1),
]


def test_training_a_few_steps_lowers_the_loss():
    images, labels = tiny_data(8, size=75)
    batch = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8).take(1).cache()
    config = trainers.TrainConfig.from_flat(
        total_steps=20, global_batch_size=8, optimizer="adamw", learning_rate=1e-2,
        schedule="constant", steps_per_loop=10, jit_compile=False, drop_path_rate=0.1,
        label_smoothing=0.0)

    def tiny_inception_resnet():
        model = inception_resnet.InceptionResNet(
            _TINY_STEM, _TINY_STAGES, None, torch_conv, "glorot_uniform", num_classes=4)
        model.build((None, 75, 75, 3))
        return model

    trainer = trainers.ClassificationTrainer(tiny_inception_resnet, config)
    assert len(trainer.drop_path_layers) == 4
    trainer.train(batch)
    losses = [logs["loss"] for logs in trainer.history]
    assert losses[-1] < 0.5 * losses[0], losses
    # Auxiliary heads are off by default: training-mode calls give the logits alone.
    model = trainer.model
    assert isinstance(model(images[:1], training=True), tf.Tensor) and not model.aux_heads
    assert model.aux_loss_weights == ()


def test_auxiliary_heads_are_built_with_the_model_and_trained_by_the_trainer():
    """create_model builds the aux heads (an optimizer built before training must cover them);
    one ClassificationTrainer step runs with them and updates them."""
    model = tfcls.create_model("inception_v1", num_classes=3, input_size=64, aux_logits=True)
    aux_variables = [v for v in model.trainable_variables if "aux" in v.name]
    assert aux_variables
    before = [v.numpy().copy() for v in aux_variables]
    trainer = trainers.ClassificationTrainer(model, trainers.TrainConfig.from_flat(
        total_steps=1, global_batch_size=2, steps_per_loop=1, jit_compile=False))
    images = tf.random.normal([2, 64, 64, 3], seed=0)
    trainer.train(tf.data.Dataset.from_tensors((images, tf.constant([0, 2]))))
    assert any(not np.allclose(b, v.numpy()) for b, v in zip(before, aux_variables))
