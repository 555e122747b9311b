"""Blocks of Dual Path Networks (Chen et al., 2017, "Dual Path Networks"), with timm's
pre-activation ordering: every convolution is preceded by its own batch norm and ReLU."""
import tensorflow as tf
import tf_keras

from tfcls.layers.activations import get_activation
from tfcls.layers.conv import symmetric_padding


class BnActConv(tf_keras.layers.Layer):
    """BatchNorm -> activation -> Conv2D (bias-free, optionally grouped, PyTorch k//2 padding):
    timm's ``BnActConv2d``. Batch-norm epsilon 1e-3 as the MXNet original."""

    def __init__(self, filters, kernel_size=1, strides=1, groups=1, act="relu", norm_eps=1e-3,
                 norm_momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel_size
        self.strides, self.groups = strides, groups
        self.act, self.norm_eps, self.norm_momentum = act, norm_eps, norm_momentum
        self.bn = tf_keras.layers.BatchNormalization(epsilon=norm_eps, momentum=norm_momentum,
                                                     name="bn")
        self.act_fn = get_activation(act)
        pad = symmetric_padding(kernel_size)
        self.pad = tf_keras.layers.ZeroPadding2D(pad, name="pad") if pad else None
        self.conv = tf_keras.layers.Conv2D(filters, kernel_size, strides, groups=groups,
                                           use_bias=False, name="conv")

    def call(self, x, training=None):
        x = self.act_fn(self.bn(x, training=training))
        if self.pad is not None:
            x = self.pad(x)
        return self.conv(x)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "groups": self.groups, "act": self.act,
                "norm_eps": self.norm_eps, "norm_momentum": self.norm_momentum}


class DualPathBlock(tf_keras.layers.Layer):
    """timm's ``DualPathBlock``: a grouped bottleneck (1x1 ``bottleneck``, grouped 3x3
    ``bottleneck``, 1x1 ``residual + growth``) whose first ``residual`` output channels are added to
    the residual path and whose last ``growth`` channels are appended to the dense path.

    Takes the (residual, dense) pair, or one tensor for the first block of a network.
    ``block_type``: "normal" (identity paths), "proj" (a 1x1 projection makes both paths, the dense
    one with 2 * growth channels) or "down" (the same projection and the 3x3 at stride 2).
    Returns the new (residual, dense) pair.
    """

    def __init__(self, bottleneck, residual, growth, groups, block_type="normal", **kwargs):
        super().__init__(**kwargs)
        if block_type not in ("normal", "proj", "down"):
            raise ValueError(f"block_type must be 'normal', 'proj' or 'down', got {block_type!r}.")
        self.bottleneck, self.residual, self.growth = bottleneck, residual, growth
        self.groups, self.block_type = groups, block_type
        strides = 2 if block_type == "down" else 1
        self.c1x1_w = (BnActConv(residual + 2 * growth, 1, strides, name="c1x1_w")
                       if block_type != "normal" else None)
        self.c1x1_a = BnActConv(bottleneck, 1, name="c1x1_a")
        self.c3x3_b = BnActConv(bottleneck, 3, strides, groups=groups, name="c3x3_b")
        self.c1x1_c = BnActConv(residual + growth, 1, name="c1x1_c")

    def call(self, x, training=None):
        x_in = tf.concat(list(x), axis=-1) if isinstance(x, (list, tuple)) else x
        if self.c1x1_w is None:
            residual, dense = x
        else:
            projected = self.c1x1_w(x_in, training=training)
            residual, dense = projected[..., :self.residual], projected[..., self.residual:]
        out = self.c1x1_a(x_in, training=training)
        out = self.c3x3_b(out, training=training)
        out = self.c1x1_c(out, training=training)
        return (residual + out[..., :self.residual],
                tf.concat([dense, out[..., self.residual:]], axis=-1))

    def get_config(self):
        return {**super().get_config(), "bottleneck": self.bottleneck, "residual": self.residual,
                "growth": self.growth, "groups": self.groups, "block_type": self.block_type}
