"""Under mixed_bfloat16 on a CPU host, ConvNormAct runs the depthwise convs that oneDNN is slow at
in bfloat16 (stride above 1, kernel above 3x3) in float32: the same outputs as the float32 conv of
the bfloat16 input and kernel, cast back to bfloat16; the others stay in bfloat16."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfcls.layers import ConvNormAct, FastDepthwiseConv2D
from tfcls.layers.conv import bfloat16_depthwise_is_slow

CASES = [  # (kernel, strides, padding, runs in float32)
    (5, 2, "same", True),        # MobileNet v3 / EfficientNet's 5x5 stride-2
    (3, 2, "symmetric", True),
    (5, 1, "same", True),
    (3, 1, "same", False),       # as fast in bfloat16: left alone
]


@pytest.fixture
def bfloat16_policy():
    tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    tf_keras.mixed_precision.set_global_policy("float32")


def _depthwise_dtypes(function, *args):
    graph = function.get_concrete_function(*args).graph
    return {op.get_attr("T") for op in graph.get_operations()
            if op.type == "DepthwiseConv2dNative"}


@pytest.mark.parametrize("kernel, strides, padding, in_float32", CASES)
def test_slow_bfloat16_depthwise_runs_in_float32(bfloat16_policy, kernel, strides, padding,
                                                  in_float32):
    assert bfloat16_depthwise_is_slow(kernel, strides) == in_float32
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, 9, 8, 6)), tf.bfloat16)
    layer = ConvNormAct(6, kernel, strides, padding=padding, depthwise=True, norm=None, act=None,
                        name="c")
    layer.build(x.shape)
    assert layer.conv.depthwise_kernel.dtype == tf.float32

    call = tf.function(lambda t: layer(t))
    assert _depthwise_dtypes(call, x) == {tf.float32 if in_float32 else tf.bfloat16}
    ours = call(x)
    assert ours.dtype == tf.bfloat16

    kernel32 = tf.cast(tf.cast(layer.conv.depthwise_kernel, tf.bfloat16), tf.float32)
    x32 = tf.cast(x, tf.float32)
    if padding == "symmetric":
        x32, pad_mode = tf.pad(x32, [[0, 0], [kernel // 2] * 2, [kernel // 2] * 2, [0, 0]]), "VALID"
    else:
        pad_mode = "SAME"
    reference = tf.nn.depthwise_conv2d(x32, kernel32, [1, strides, strides, 1], pad_mode)
    if in_float32:  # exact: the float32 result, rounded once
        np.testing.assert_array_equal(ours, tf.cast(reference, tf.bfloat16))
    else:
        np.testing.assert_allclose(tf.cast(ours, tf.float32), reference, rtol=2e-2, atol=5e-2)


def test_float32_depthwise_gradients_reach_the_float32_kernel(bfloat16_policy):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(2, 8, 8, 4)), tf.bfloat16)
    layer = ConvNormAct(4, 5, 2, padding="same", depthwise=True, norm=None, act=None, name="c")
    layer.build(x.shape)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.cast(layer(x), tf.float32) ** 2)
    grad_kernel, grad_x = tape.gradient(loss, [layer.conv.depthwise_kernel, x])
    assert grad_kernel.dtype == tf.float32 and grad_x.dtype == tf.bfloat16

    kernel = tf.Variable(tf.cast(tf.cast(layer.conv.depthwise_kernel, tf.bfloat16), tf.float32))
    x32 = tf.cast(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x32)
        y = tf.nn.depthwise_conv2d(x32, kernel, [1, 2, 2, 1], "SAME")
        reference_loss = tf.reduce_sum(tf.cast(tf.cast(y, tf.bfloat16), tf.float32) ** 2)
    ref_kernel, ref_x = tape.gradient(reference_loss, [kernel, x32])
    np.testing.assert_allclose(grad_kernel, ref_kernel, rtol=2e-2, atol=2e-2)
    np.testing.assert_allclose(tf.cast(grad_x, tf.float32), ref_x, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_fast_depthwise_layer_matches_keras_with_bias(precision):
    """ConvNeXt's and ConvMixer's layer: keras' outputs in float32, its float32 path in bfloat16."""
    tf_keras.mixed_precision.set_global_policy(precision)
    try:
        ours = FastDepthwiseConv2D(7, padding="same", use_bias=True, name="dw")
        theirs = tf_keras.layers.DepthwiseConv2D(7, padding="same", use_bias=True, name="dw")
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(size=(2, 10, 10, 5)), tf.float32)
    ours.build(x.shape), theirs.build(x.shape)
    ours.set_weights([rng.normal(size=w.shape) for w in ours.get_weights()])
    theirs.set_weights(ours.get_weights())
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    if precision == "float32":
        np.testing.assert_allclose(ours(x), theirs(x), atol=1e-5)
        return
    x16 = tf.cast(x, tf.bfloat16)
    assert _depthwise_dtypes(tf.function(lambda t: ours(t)), x16) == {tf.float32}
    reference = tf.nn.depthwise_conv2d(
        tf.cast(x16, tf.float32), tf.cast(tf.cast(ours.depthwise_kernel, tf.bfloat16), tf.float32),
        [1, 1, 1, 1], "SAME") + tf.cast(tf.cast(ours.bias, tf.bfloat16), tf.float32)
    np.testing.assert_allclose(tf.cast(ours(x16), tf.float32), reference, rtol=1e-2, atol=1e-2)
