"""Depthwise-separable convolution + batch norm (+ activation), in keras' SeparableConv2D layout
(Chollet, 2017, "Xception: Deep Learning with Depthwise Separable Convolutions")."""
import tf_keras

from tfcls.layers.activations import get_activation


class SeparableConvNormAct(tf_keras.layers.Layer):
    """[act ->] SeparableConv2D (depthwise + pointwise, one layer, no bias) -> BatchNorm [-> act].

    One keras ``SeparableConv2D`` holds both kernels, so weights port one to one from
    tf_keras.applications (Xception, NASNet). ``act_first=True`` puts the activation before the
    convolution (Xception's middle flow, NASNet's cell branches); otherwise after the norm.
    ``padding`` is keras' "same" or "valid".
    """

    def __init__(self, filters, kernel_size=3, strides=1, padding="same", act="relu",
                 act_first=False, norm_eps=1e-3, norm_momentum=0.99,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = filters, kernel_size, strides
        self.padding, self.act, self.act_first = padding, act, act_first
        self.norm_eps, self.norm_momentum = norm_eps, norm_momentum
        self.kernel_initializer = kernel_initializer
        self.conv = tf_keras.layers.SeparableConv2D(
            filters, kernel_size, strides, padding=padding, use_bias=False,
            depthwise_initializer=kernel_initializer, pointwise_initializer=kernel_initializer,
            name="conv")
        self.bn = tf_keras.layers.BatchNormalization(epsilon=norm_eps, momentum=norm_momentum,
                                                     name="bn")
        self.act_fn = get_activation(act)

    def call(self, x, training=None):
        if self.act_first and self.act_fn is not None:
            x = self.act_fn(x)
        x = self.bn(self.conv(x), training=training)
        if not self.act_first and self.act_fn is not None:
            x = self.act_fn(x)
        return x

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "act": self.act,
                "act_first": self.act_first, "norm_eps": self.norm_eps,
                "norm_momentum": self.norm_momentum, "kernel_initializer": self.kernel_initializer}
