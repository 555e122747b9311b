"""ConvNormAct on maps smaller than its kernel convolves with the taps that meet the input alone:
outputs and gradients equal the whole kernel's (tf.nn.conv2d on the padded map), weights the same."""
import numpy as np
import pytest
import tensorflow as tf

from tfcls.layers import ConvNormAct
from tfcls.layers.conv import taps_meeting_input

CASES = [  # (size, kernel, strides, padding, depthwise, groups, bias)
    (1, 3, 1, "symmetric", False, 1, False),   # ResNet's last stage at 32 px: the centre tap
    (2, 3, 2, "symmetric", False, 1, False),   # its first block's stride-2 conv on 2x2
    (1, 3, 1, "same", False, 2, True),
    (2, 7, 1, "same", True, 1, True),          # ConvNeXt's 7x7 depthwise on 2x2
    (3, 5, 2, "same", False, 1, False),
    (2, (1, 7), 1, "symmetric", False, 1, False),  # Inception's 1x7 on 2x2
    (1, (7, 1), 1, "same", False, 1, False),
    (3, 7, 2, "symmetric", True, 1, False),
    (4, 3, 2, "same", False, 1, False),        # every tap meets the input: the plain path
]


def _reference(x, layer):
    """The whole kernel over the map padded as the layer pads it."""
    kernel = layer.conv.depthwise_kernel if layer.depthwise else layer.conv.kernel
    strides = [1, *((layer.strides,) * 2 if isinstance(layer.strides, int) else layer.strides), 1]
    if layer.padding == "symmetric":
        kh, kw = kernel.shape[:2]
        x, padding = tf.pad(x, [[0, 0], [(kh - 1) // 2] * 2, [(kw - 1) // 2] * 2, [0, 0]]), "VALID"
    else:
        padding = "SAME"
    if layer.depthwise:
        y = tf.nn.depthwise_conv2d(x, kernel, strides, padding)
    else:
        y = tf.nn.conv2d(x, kernel, strides, padding)
    return y + layer.conv.bias if layer.use_bias else y


@pytest.mark.parametrize("size, kernel, strides, padding, depthwise, groups, bias", CASES)
def test_small_map_convolution_equals_the_whole_kernel(size, kernel, strides, padding, depthwise,
                                                       groups, bias):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, size, size + 1 if size > 1 else 1, 4)), tf.float32)
    layer = ConvNormAct(6 if not depthwise else 4, kernel, strides, padding=padding,
                        depthwise=depthwise, groups=groups, use_bias=bias, norm=None, act=None,
                        name="c")
    layer.build(x.shape)
    if bias:
        layer.conv.bias.assign(rng.normal(size=layer.conv.bias.shape))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, theirs = layer(x), _reference(x, layer)
        weights = tf.constant(rng.normal(size=ours.shape), tf.float32)
        loss_ours, loss_theirs = tf.reduce_sum(ours * weights), tf.reduce_sum(theirs * weights)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    variables = [x, *layer.trainable_variables]
    for g_ours, g_theirs in zip(tape.gradient(loss_ours, variables),
                                tape.gradient(loss_theirs, variables)):
        np.testing.assert_allclose(g_ours, g_theirs, atol=1e-5)


def test_the_crop_is_taken_where_taps_only_see_padding():
    assert taps_meeting_input(1, 3, 1, "symmetric") == (1, 2, 0, 0)   # the centre tap
    assert taps_meeting_input(2, 3, 2, "symmetric") == (1, 3, 0, 0)   # rows 0-1 of the map
    assert taps_meeting_input(2, 7, 1, "same") == (2, 5, 1, 1)
    assert taps_meeting_input(8, 3, 1, "same")[:2] == (0, 3)           # all taps: no crop
    layer = ConvNormAct(8, 3, name="c")
    layer.build((None, 1, 1, 4))
    assert layer._crops(tf.TensorShape([None, 1, 1, 4])) is not None
    assert layer._crops(tf.TensorShape([None, 5, 5, 4])) is None


def test_weights_are_named_as_the_plain_convolution_names_them():
    small, large = ConvNormAct(8, 3, name="c"), ConvNormAct(8, 3, name="c")
    small(tf.zeros([1, 1, 1, 4])), large(tf.zeros([1, 9, 9, 4]))
    assert [v.name for v in small.weights] == [v.name for v in large.weights]
    assert small.weights[0].name == "c/conv/kernel:0"
