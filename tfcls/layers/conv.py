"""Convolution + normalization + activation, the unit most CNN blocks are made of."""
import tensorflow as tf
import tf_keras

from tfcls.layers.activations import get_activation


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def symmetric_padding(kernel_size, dilation_rate=1):
    """Zero padding on each side that PyTorch's ``padding=k // 2`` (and keras' ZeroPadding2D
    before a 'valid' conv) uses: the same on both sides, whatever the stride. A ``(kh, kw)``
    kernel (e.g. Inception's 1x7) gives the ``(rows, cols)`` padding, as torch's ``(0, 3)``."""
    if isinstance(kernel_size, (tuple, list)):
        return tuple(symmetric_padding(k, d) for k, d in zip(kernel_size, _pair(dilation_rate)))
    return dilation_rate * (kernel_size - 1) // 2


def symmetric_padding_layer(kernel_size, strides=1, dilation_rate=1):
    """``(ZeroPadding2D or None, conv padding)`` that give a conv PyTorch's symmetric padding.
    With stride 1 and an odd kernel, TF's "same" pads (k - 1) // 2 on both sides as well, inside
    the conv kernel: no padded copy of the map forward, no slice of its gradient backward
    (ResNet-18 at 32 px trains ~20% faster on a 2-core CPU). Otherwise an explicit
    ZeroPadding2D (named "pad"; it has no weights) before a "valid" conv."""
    pad = symmetric_padding(kernel_size, dilation_rate)
    if pad in (0, (0, 0)):
        return None, "valid"
    if _pair(strides) == (1, 1) and all(k % 2 for k in _pair(kernel_size)):
        return None, "same"
    return tf_keras.layers.ZeroPadding2D(pad, name="pad"), "valid"


def taps_meeting_input(size, kernel_size, stride, padding):
    """Along one axis of a convolution (dilation 1) over ``size`` inputs, the taps of the kernel
    that ever meet the input rather than only its zero padding, and the padding that gives the
    same outputs with those taps alone: ``(first, stop, pad_before, pad_after)`` (``(0, k, ...)``
    when every tap meets it), or None if the convolution leaves input pixels unread. A 3x3 kernel
    on a 1x1 map (ResNet's last stage at 32 px) needs its centre tap alone, a 3x3 stride-2 one on
    a 2x2 map its lower-right 2x2.

    ``padding``: "symmetric" ((k - 1) // 2 on both sides) or "same" (TF's: the odd one at the end).
    """
    if padding == "symmetric":
        pad_before = symmetric_padding(kernel_size)
        outputs = (size + 2 * pad_before - kernel_size) // stride + 1
    else:
        outputs = -(-size // stride)
        pad_before = max((outputs - 1) * stride + kernel_size - size, 0) // 2
    first = max(0, pad_before - (outputs - 1) * stride)
    stop = min(kernel_size, size + pad_before)
    pad_before -= first
    pad_after = (outputs - 1) * stride + (stop - first) - size - pad_before
    return (first, stop, pad_before, pad_after) if pad_after >= 0 else None


def bfloat16_depthwise_is_slow(kernel_size, strides):
    """Whether a bfloat16 depthwise conv of this kernel and stride had better run in float32: on
    a host with no GPU or TPU, oneDNN's bfloat16 depthwise kernels (their gradients above all)
    are several times slower than its float32 ones when the stride is above 1 or the kernel above
    3x3 (measured on a 2-core AMX Xeon, batch 32: a 5x5 stride-2 conv on 32x32x72 took 42 ms for
    forward+backward in bfloat16, 6.7 ms in float32 with the casts; a 3x3 stride-1 conv ran about
    as fast in bfloat16). Computing such a conv in float32 only makes it more exact."""
    if max(_pair(strides)) == 1 and max(_pair(kernel_size)) <= 3:
        return False
    return not (tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


class FastDepthwiseConv2D(tf_keras.layers.DepthwiseConv2D):
    """keras' DepthwiseConv2D, the same weights and names, that computes in float32 where a
    bfloat16 one is slow (``bfloat16_depthwise_is_slow``) and casts the result to bfloat16: the
    float32 conv of the bfloat16 input and kernel, rounded once."""

    def call(self, inputs):
        if (inputs.dtype != tf.bfloat16 or _pair(self.dilation_rate) != (1, 1)
                or not bfloat16_depthwise_is_slow(self.kernel_size, self.strides)):
            return super().call(inputs)
        y = tf.nn.depthwise_conv2d(tf.cast(inputs, tf.float32),
                                   tf.cast(self.depthwise_kernel, tf.float32),
                                   [1, *_pair(self.strides), 1], self.padding.upper())
        if self.use_bias:
            y = tf.nn.bias_add(y, tf.cast(self.bias, tf.float32))
        y = tf.cast(y, inputs.dtype)
        return self.activation(y) if self.activation is not None else y


class ConvNormAct(tf_keras.layers.Layer):
    """Conv2D (optionally grouped or depthwise) -> BatchNorm -> activation.

    ``padding`` is "symmetric" (pad k//2 on both sides, then a valid conv: PyTorch and
    keras.applications' ZeroPadding2D layout), or keras' "same" / "valid".
    ``norm=None`` drops the norm, ``act=None`` the activation; ``norm_scale=False`` drops the
    norm's gamma (keras' Inception nets). ``kernel_size`` may be ``(kh, kw)``.

    On a map so small that some of the kernel's taps only ever see padding, the convolution runs
    with the taps that meet the input alone (``taps_meeting_input``): the same outputs and
    gradients (the other taps' gradient is zero either way) and the same weights, for a fraction
    of the work. A bfloat16 depthwise conv that is slow on the CPU runs in float32
    (``bfloat16_depthwise_is_slow``).
    """

    def __init__(self, filters, kernel_size=3, strides=1, padding="symmetric", groups=1,
                 depthwise=False, dilation_rate=1, use_bias=False, norm="batch", act="relu",
                 norm_eps=1e-5, norm_momentum=0.9, norm_scale=True,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if padding not in ("symmetric", "same", "valid"):
            raise ValueError(f"padding must be 'symmetric', 'same' or 'valid', got {padding!r}.")
        if norm not in ("batch", None):
            raise ValueError(f"norm must be 'batch' or None, got {norm!r}.")
        self.filters, self.kernel_size, self.strides = filters, kernel_size, strides
        self.padding, self.groups, self.depthwise = padding, groups, depthwise
        self.dilation_rate, self.use_bias, self.norm, self.act = dilation_rate, use_bias, norm, act
        self.norm_eps, self.norm_momentum, self.norm_scale = norm_eps, norm_momentum, norm_scale
        self.kernel_initializer = tf_keras.initializers.get(kernel_initializer)
        if isinstance(kernel_size, list):
            self.kernel_size = kernel_size = tuple(kernel_size)

        self.pad, conv_padding = None, padding
        if padding == "symmetric":
            self.pad, conv_padding = symmetric_padding_layer(kernel_size, strides, dilation_rate)
        if depthwise:
            self.conv = FastDepthwiseConv2D(
                kernel_size, strides, padding=conv_padding, dilation_rate=dilation_rate,
                use_bias=use_bias, depthwise_initializer=self.kernel_initializer, name="conv")
        else:
            self.conv = tf_keras.layers.Conv2D(
                filters, kernel_size, strides, padding=conv_padding, groups=groups,
                dilation_rate=dilation_rate, use_bias=use_bias,
                kernel_initializer=self.kernel_initializer, name="conv")
        self.bn = (tf_keras.layers.BatchNormalization(
            epsilon=norm_eps, momentum=norm_momentum, scale=norm_scale, name="bn")
            if norm else None)
        self.act_fn = get_activation(act)
        self._can_crop = padding != "valid" and _pair(dilation_rate) == (1, 1)

    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)  # the weights depend on the channels alone
        with tf.name_scope(self.conv.name):  # the names the conv gets when it builds itself
            self.conv.build(tf.TensorShape([shape[0], None, None, shape[-1]]))
        super().build(input_shape)

    def _crops(self, shape):
        """``taps_meeting_input`` for rows and columns, or None: use the whole kernel."""
        if not self._can_crop or shape[1] is None or shape[2] is None:
            return None
        crops = [taps_meeting_input(n, k, s, self.padding) for n, k, s in
                 zip(shape[1:3], _pair(self.kernel_size), _pair(self.strides))]
        whole = [(0, k) for k in _pair(self.kernel_size)]
        if None in crops or [crop[:2] for crop in crops] == whole:
            return None
        return crops

    def _convolve(self, x):
        crops = self._crops(x.shape)
        if crops is None:
            return self.conv(self.pad(x) if self.pad is not None else x)
        (row0, row1, top, bottom), (col0, col1, left, right) = crops
        dtype = x.dtype
        if self.depthwise and dtype == tf.bfloat16 and bfloat16_depthwise_is_slow(
                (row1 - row0, col1 - col0), self.strides):
            dtype = tf.float32
        kernel = self.conv.depthwise_kernel if self.depthwise else self.conv.kernel
        kernel = tf.cast(kernel[row0:row1, col0:col1], dtype)
        y = tf.pad(tf.cast(x, dtype), [[0, 0], [top, bottom], [left, right], [0, 0]])
        strides = [1, *_pair(self.strides), 1]
        if self.depthwise:
            y = tf.nn.depthwise_conv2d(y, kernel, strides, "VALID")
        else:
            y = tf.nn.conv2d(y, kernel, strides, "VALID")
        y = tf.cast(y, x.dtype)
        return tf.nn.bias_add(y, tf.cast(self.conv.bias, y.dtype)) if self.use_bias else y

    def call(self, x, training=None):
        x = self._convolve(x)
        if self.bn is not None:
            x = self.bn(x, training=training)
        if self.act_fn is not None:
            x = self.act_fn(x)
        return x

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "groups": self.groups,
                "depthwise": self.depthwise, "dilation_rate": self.dilation_rate,
                "use_bias": self.use_bias, "norm": self.norm, "act": self.act,
                "norm_eps": self.norm_eps, "norm_momentum": self.norm_momentum,
                "norm_scale": self.norm_scale,
                "kernel_initializer": tf_keras.initializers.serialize(self.kernel_initializer)}
