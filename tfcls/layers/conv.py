"""Convolution + normalization + activation, the unit most CNN blocks are made of."""
import tf_keras

from tfcls.layers.activations import get_activation


def symmetric_padding(kernel_size, dilation_rate=1):
    """Zero padding on each side that PyTorch's ``padding=k // 2`` (and keras' ZeroPadding2D
    before a 'valid' conv) uses: the same on both sides, whatever the stride. A ``(kh, kw)``
    kernel (e.g. Inception's 1x7) gives the ``(rows, cols)`` padding, as torch's ``(0, 3)``."""
    if isinstance(kernel_size, (tuple, list)):
        rates = dilation_rate if isinstance(dilation_rate, (tuple, list)) else (dilation_rate,) * 2
        return tuple(symmetric_padding(k, d) for k, d in zip(kernel_size, rates))
    return dilation_rate * (kernel_size - 1) // 2


class ConvNormAct(tf_keras.layers.Layer):
    """Conv2D (optionally grouped or depthwise) -> BatchNorm -> activation.

    ``padding`` is "symmetric" (pad k//2 on both sides, then a valid conv: PyTorch and
    keras.applications' ZeroPadding2D layout), or keras' "same" / "valid".
    ``norm=None`` drops the norm, ``act=None`` the activation; ``norm_scale=False`` drops the
    norm's gamma (keras' Inception nets). ``kernel_size`` may be ``(kh, kw)``.
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

        pad = symmetric_padding(kernel_size, dilation_rate)
        self.pad = (tf_keras.layers.ZeroPadding2D(pad, name="pad")
                    if padding == "symmetric" and pad not in (0, (0, 0)) else None)
        conv_padding = "valid" if padding == "symmetric" else padding
        if depthwise:
            self.conv = tf_keras.layers.DepthwiseConv2D(
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

    def call(self, x, training=None):
        if self.pad is not None:
            x = self.pad(x)
        x = self.conv(x)
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
