"""Channel shuffle (Zhang et al., 2017, "ShuffleNet: An Extremely Efficient Convolutional Neural
Network for Mobile Devices"): lets information cross the groups of a grouped convolution."""
import tensorflow as tf
import tf_keras


class ChannelShuffle(tf_keras.layers.Layer):
    """Reshape-transpose-reshape of the channels of an NHWC map.

    ``inverse=False`` (the paper, torchvision's ``channel_shuffle``): view the C channels as a
    (groups, C / groups) grid and read it column by column, so output channel ``i * groups + g``
    is input channel ``g * (C / groups) + i``.
    ``inverse=True`` (Megvii's official ShuffleNet v1 code): view them as (C / groups, groups)
    and read column by column, the inverse permutation: output ``g * (C / groups) + i`` is input
    ``i * groups + g``.
    """

    def __init__(self, groups, inverse=False, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)
        self.inverse = bool(inverse)

    def call(self, x):
        channels = x.shape[-1]
        if channels % self.groups:
            raise ValueError(f"{channels} channels do not split into {self.groups} groups.")
        grid = ((channels // self.groups, self.groups) if self.inverse
                else (self.groups, channels // self.groups))
        shape = tf.shape(x)
        x = tf.reshape(x, tf.concat([shape[:3], grid], axis=0))
        x = tf.transpose(x, [0, 1, 2, 4, 3])
        return tf.reshape(x, tf.concat([shape[:3], [channels]], axis=0))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "inverse": self.inverse}
