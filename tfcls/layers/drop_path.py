"""Stochastic depth (Huang et al., 2016, "Deep Networks with Stochastic Depth")."""
import tensorflow as tf
import tf_keras

from tfcls.layers import noise


class DropPath(tf_keras.layers.Layer):
    """Drops a residual branch per sample, scaling survivors by 1 / keep_prob.

    The rate lives in a non-trainable variable (``self.rate``) so that a training-time schedule can
    change it with ``rate.assign(...)`` without retracing a ``tf.function``. ``base_rate`` is the rate
    the model was built with (per block, growing with depth); schedules scale it. The mask is
    stateless under the trainer (``tfcls.layers.noise``).
    """

    def __init__(self, rate=0.0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"DropPath rate must be in [0, 1), got {rate}.")
        self.base_rate = float(rate)

    def build(self, input_shape):
        self.rate = self.add_weight(
            name="rate", shape=(), dtype=tf.float32, trainable=False,
            initializer=tf_keras.initializers.Constant(self.base_rate),
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        super().build(input_shape)

    def call(self, x, training=None):
        if not training:
            return x
        keep_prob = tf.cast(1.0 - self.rate, x.dtype)
        mask_shape = tf.concat([tf.shape(x)[:1], tf.ones([tf.rank(x) - 1], tf.int32)], axis=0)
        mask = tf.floor(keep_prob + noise.uniform(mask_shape, x.dtype))
        return x / keep_prob * mask

    def get_config(self):
        return {**super().get_config(), "rate": self.base_rate}


def drop_path_layers(model):
    """The DropPath layers of ``model``, in the order it tracks them (depth order)."""
    return [m for m in model.submodules if isinstance(m, DropPath)]


def set_drop_path_scale(layers, scale):
    """Sets each DropPath (a list, or all of a model's) to ``base_rate * scale``; ``scale`` may be
    a tensor, so a schedule can call this inside a ``tf.function``. Returns how many were set."""
    if not isinstance(layers, (list, tuple)):
        layers = drop_path_layers(layers)
    for layer in layers:
        layer.rate.assign(layer.base_rate * scale)
    return len(layers)
