"""Squeeze-and-excitation (Hu et al., 2018, "Squeeze-and-Excitation Networks")."""
import tensorflow as tf
import tf_keras

from tfcls.layers.activations import get_activation


class SqueezeExcite(tf_keras.layers.Layer):
    """Global average pool -> 1x1 conv to ``reduced_width`` -> act -> 1x1 conv back -> gate,
    which scales the input's channels. The caller picks the reduced width (families round it
    differently); both convolutions have biases, as in keras.applications, timm, torchvision.

    Args:
      reduced_width: channels of the squeezed vector.
      act: activation after the reduction ("relu" in MobileNet v3, "swish" in EfficientNet).
      gate: "sigmoid" (EfficientNet) or "hard_sigmoid" (MobileNet v3).
      conv_init: kernel initializer of both convs (None: keras' default, Glorot uniform).
    """

    def __init__(self, reduced_width, act="relu", gate="sigmoid", conv_init=None, **kwargs):
        super().__init__(**kwargs)
        self.reduced_width, self.act, self.gate = int(reduced_width), act, gate
        self.conv_init = conv_init
        self.act_fn, self.gate_fn = get_activation(act), get_activation(gate)
        self.reduce = tf_keras.layers.Conv2D(self.reduced_width, 1, name="reduce",
                                             kernel_initializer=conv_init or "glorot_uniform")
        self.expand = None

    def build(self, input_shape):
        self.expand = tf_keras.layers.Conv2D(int(input_shape[-1]), 1, name="expand",
                                             kernel_initializer=self.conv_init or "glorot_uniform")
        super().build(input_shape)

    def call(self, x):
        s = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        s = self.reduce(s)
        if self.act_fn is not None:
            s = self.act_fn(s)
        return x * self.gate_fn(self.expand(s))

    def get_config(self):
        return {**super().get_config(), "reduced_width": self.reduced_width, "act": self.act,
                "gate": self.gate, "conv_init": self.conv_init}
