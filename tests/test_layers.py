"""Blocks of tfcls.layers: DropPath semantics, adaptive pooling, heads, get_config round trips."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfcls import layers
from tfcls.layers import DropPath
from tfcls.models import resnet


def test_drop_path_is_identity_at_inference():
    x = tf.random.normal([8, 4, 4, 3])
    layer = DropPath(0.5)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())


def test_drop_path_drops_whole_samples_and_keeps_the_expectation():
    tf.random.set_seed(0)
    rate = 0.3
    x = tf.ones([20000, 2, 2, 1])
    y = DropPath(rate)(x, training=True).numpy()
    per_sample = y.reshape(len(y), -1)
    # each sample is either dropped entirely or scaled by 1 / keep_prob
    values = np.unique(per_sample)
    assert len(values) == 2 and values[0] == 0.0
    np.testing.assert_allclose(values[1], 1 / (1 - rate), rtol=1e-6)
    assert np.all(per_sample.min(axis=1) == per_sample.max(axis=1))
    assert abs(per_sample.mean() - 1.0) < 0.02  # E[y] = x
    assert abs((per_sample[:, 0] == 0).mean() - rate) < 0.02


def test_drop_path_rate_changes_without_retracing():
    layer = DropPath(0.0)
    layer.build(None)
    traces = []

    @tf.function
    def step(x):
        traces.append(1)
        return layer(x, training=True)

    x = tf.ones([4000, 1])
    assert np.all(step(x).numpy() == 1.0)  # rate 0 keeps everything
    layer.rate.assign(0.5)
    dropped = (step(x).numpy() == 0).mean()
    assert 0.45 < dropped < 0.55
    assert len(traces) == 1


def test_set_drop_path_scale_scales_base_rates():
    model = tf_keras.Sequential([DropPath(0.1), DropPath(0.2)])
    model.build((None, 3))
    assert layers.set_drop_path_scale(model, 0.5) == 2
    np.testing.assert_allclose([l.rate.numpy() for l in model.layers], [0.05, 0.1], rtol=1e-6)


@pytest.mark.parametrize("rule,fractions", [
    ("linear", [0, 0.25, 0.5, 0.75, 1]),  # timm: linspace(0, rate, 5)
    ("index_over_count", [0, 0.2, 0.4, 0.6, 0.8]),  # keras EfficientNet: rate * b / 5
    ("one_based", [0.2, 0.4, 0.6, 0.8, 1]),  # slim NASNet: rate * (k + 1) / 5
])
def test_depth_rules_tag_blocks_and_one_call_sets_the_rates(rule, fractions):
    """Block i of 5 (block 1 has two DropPaths sharing its fraction, block 3 none)."""
    blocks = [tf_keras.Sequential([DropPath()]) for _ in range(5)]
    blocks[1] = tf_keras.Sequential([DropPath(), DropPath()])
    blocks[3] = tf_keras.Sequential([tf_keras.layers.ReLU()])
    model = tf_keras.Sequential(blocks)
    model.build((None, 3))
    layers.tag_drop_path_depth(blocks, rule)
    assert len(layers.set_drop_path_rate(model, 0.3)) == 5
    expected = [0.3 * fractions[i] for i in (0, 1, 1, 2, 4)]
    found = [l for i in (0, 1, 2, 4) for l in blocks[i].layers]
    np.testing.assert_allclose([l.base_rate for l in found], expected, atol=1e-7)
    np.testing.assert_allclose([l.rate.numpy() for l in found], expected, atol=1e-7)


def test_set_drop_path_rate_refuses_what_it_cannot_set():
    with pytest.raises(ValueError, match="no DropPath layers"):
        layers.set_drop_path_rate(tf_keras.Sequential([tf_keras.layers.ReLU()]), 0.1)
    untagged = tf_keras.Sequential([DropPath(0.1)])
    with pytest.raises(ValueError, match="no depth fraction"):
        layers.set_drop_path_rate(untagged, 0.2)
    layers.set_drop_path_rate(untagged, 0.0)  # rate 0 needs no fraction: every DropPath off
    assert untagged.layers[0].base_rate == 0.0
    with pytest.raises(ValueError, match="Unknown drop-path rule"):
        layers.tag_drop_path_depth([untagged], "quadratic")


def test_drop_path_rejects_rate_of_one():
    with pytest.raises(ValueError, match="rate"):
        DropPath(1.0)


def _numpy_adaptive_avg_pool(x, out):
    n, h, w, c = x.shape
    result = np.zeros((n, out, out, c), x.dtype)
    for i in range(out):
        h0, h1 = (i * h) // out, -(-((i + 1) * h) // out)
        for j in range(out):
            w0, w1 = (j * w) // out, -(-((j + 1) * w) // out)
            result[:, i, j] = x[:, h0:h1, w0:w1].mean(axis=(1, 2))
    return result


@pytest.mark.parametrize("size", [1, 5, 7, 10, 23])
def test_adaptive_avg_pool_matches_numpy(size):
    x = np.random.default_rng(size).normal(size=(2, size, size + 3, 4)).astype(np.float32)
    y = layers.AdaptiveAvgPool2D(7)(x).numpy()
    np.testing.assert_allclose(y, _numpy_adaptive_avg_pool(x, 7), rtol=1e-5, atol=1e-6)


def test_global_pool_types():
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(layers.GlobalPool("avg")(x), x.mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(layers.GlobalPool("max")(x), x.max(axis=(1, 2)), rtol=1e-5)
    with pytest.raises(ValueError, match="pool_type"):
        layers.GlobalPool("median")


def test_symmetric_padding_matches_torch_layout():
    # 7x7 stride-2 conv on 224 px with padding 3 on both sides gives 112, as torchvision's stem
    block = layers.ConvNormAct(8, 7, 2)
    assert block(tf.zeros([1, 224, 224, 3])).shape == (1, 112, 112, 8)
    assert block(tf.zeros([1, 33, 33, 3])).shape == (1, 17, 17, 8)
    # Values: a stride-2 3x3 conv pads one pixel on every side (PyTorch's padding=1), which
    # "same" does not do at even sizes (it pads 0 before, 1 after).
    conv = layers.ConvNormAct(4, 3, 2, norm=None, act=None)
    x = tf.random.normal([1, 8, 8, 3], seed=2)
    got = conv(x).numpy()
    kernel = conv.conv.kernel
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    np.testing.assert_allclose(got, tf.nn.conv2d(padded, kernel, 2, "VALID"), atol=1e-5)
    assert not np.allclose(got, tf.nn.conv2d(x, kernel, 2, "SAME"), atol=1e-3)



@pytest.mark.parametrize("kernel,strides,dilation,depthwise", [
    (3, 1, 1, False), ((1, 7), 1, 1, False), (5, 1, 2, False), (3, 1, 1, True),
    (3, 2, 1, False), (4, 1, 1, False)])
def test_symmetric_padding_equals_explicit_pad_then_valid_conv(kernel, strides, dilation,
                                                               depthwise):
    """Stride 1 with an odd kernel pads inside the conv ("same"); the rest pads explicitly. Both
    give PyTorch's k // 2 on every side (odd sizes too, where "same" at stride 2 would not)."""
    conv = layers.ConvNormAct(4 if not depthwise else None, kernel, strides, dilation_rate=dilation,
                              depthwise=depthwise, norm=None, act=None)
    x = tf.random.normal([2, 9, 10, 4], seed=3)
    got = conv(x).numpy()
    pads = layers.symmetric_padding(kernel, dilation)
    pad_h, pad_w = pads if isinstance(pads, tuple) else (pads, pads)
    padded = tf.pad(x, [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]])
    if depthwise:
        want = tf.nn.depthwise_conv2d(padded, conv.conv.depthwise_kernel, [1, 1, 1, 1], "VALID")
    else:
        want = tf.nn.conv2d(padded, conv.conv.kernel, strides, "VALID", dilations=dilation)
    np.testing.assert_allclose(got, want, atol=1e-5)
    odd_stride_1 = strides == 1 and all(k % 2 for k in np.atleast_1d(kernel))
    assert (conv.pad is None) == odd_stride_1  # the fast path where it is exact

BLOCKS = [
    (layers.ConvNormAct, dict(filters=8, kernel_size=3, strides=2, act="swish", use_bias=True)),
    (layers.ConvNormAct, dict(filters=6, kernel_size=3, depthwise=True, norm=None)),
    (layers.DropPath, dict(rate=0.2)),
    (resnet.BasicBlock, dict(filters=6, strides=2, project_shortcut=True, drop_path_rate=0.1)),
    (resnet.Bottleneck, dict(filters=4, strides=2, project_shortcut=True, stride_in_1x1=False,
                             use_bias=False)),
    (resnet.PreActBottleneck, dict(filters=4, strides=2, project_shortcut=False)),
    (layers.ClassifierHead, dict(num_classes=5, pool_type="avgmax", drop_rate=0.1)),
    (layers.MlpClassifierHead, dict(num_classes=5, hidden_units=(16, 8), pool_size=2)),
    (layers.AdaptiveAvgPool2D, dict(output_size=3)),
    (layers.GlobalPool, dict(pool_type="max")),
]


@pytest.mark.parametrize("cls,kwargs", BLOCKS, ids=[f"{c.__name__}-{i}" for i, (c, _) in
                                                    enumerate(BLOCKS)])
def test_get_config_round_trip(cls, kwargs):
    block = cls(**kwargs, name="block")
    x = tf.random.normal([2, 8, 8, 6 if cls is layers.ConvNormAct else 16])
    y = block(x, training=False)
    clone = cls.from_config(block.get_config())
    assert clone.get_config() == block.get_config()
    y_clone = clone(x, training=False)
    assert y_clone.shape == y.shape
    assert [v.shape for v in clone.weights] == [v.shape for v in block.weights]
    if block.weights:  # same weights -> same outputs
        clone.set_weights(block.get_weights())
        np.testing.assert_allclose(clone(x, training=False), y, rtol=1e-5, atol=1e-5)


def test_classifier_head_reset_and_pre_logits():
    head = layers.ClassifierHead(10)
    x = tf.random.normal([2, 4, 4, 16])
    assert head(x).shape == (2, 10) and head(x).dtype == tf.float32
    assert head(x, pre_logits=True).shape == (2, 16)
    head.reset(3, 16)
    assert head(x).shape == (2, 3)
    assert sum(int(np.prod(v.shape)) for v in head.trainable_variables) == 16 * 3 + 3
    head.reset(0, 16)
    assert head(x).shape == (2, 16) and not head.trainable_variables


def test_unknown_activation_and_padding_are_refused():
    with pytest.raises(ValueError, match="activation"):
        layers.ConvNormAct(4, act="bogus")
    with pytest.raises(ValueError, match="padding"):
        layers.ConvNormAct(4, padding="reflect")
