"""Stochastic depth (Huang et al., 2016, "Deep Networks with Stochastic Depth"): the DropPath layer
and the one route that sets its rates.

A model tags the DropPath layers of its block ``i`` of ``n`` with a depth fraction given by its
family's rule (``DEPTH_RULES``); ``set_drop_path_rate(model, rate)`` then sets every base rate to
``rate * fraction``, and a training schedule scales the base rates (``set_drop_path_scale``).
"""
import tensorflow as tf
import tf_keras

from tfcls.layers import noise

# Depth fraction of block i (from 0) of n, one rule per reference.
DEPTH_RULES = {
    # timm's linspace(0, rate, n): the first block 0, the last the full rate.
    "linear": lambda i, n: i / (n - 1) if n > 1 else 1.0,
    # keras' EfficientNet / the TF reference: drop_connect_rate * b / blocks (never the full rate).
    "index_over_count": lambda i, n: i / n,
    # NASNet's slim ScheduledDropPath: cell k of T gets (k + 1) / T (the last the full rate).
    "one_based": lambda i, n: (i + 1) / n,
}


class DropPath(tf_keras.layers.Layer):
    """Drops a residual branch per sample, scaling survivors by 1 / keep_prob.

    The rate lives in a non-trainable variable (``self.rate``) so that a training-time schedule
    can change it with ``rate.assign(...)`` without retracing a ``tf.function``. ``base_rate`` is
    the rate the model set (per block, growing with depth); schedules scale it.
    ``depth_fraction`` is the block's share of the model's drop-path rate (see
    ``tag_drop_path_depth``). The mask is stateless under the trainer (``tfcls.layers.noise``).
    """

    def __init__(self, rate=0.0, depth_fraction=None, **kwargs):
        super().__init__(**kwargs)
        _check_rate(rate)
        self.base_rate = float(rate)
        self.depth_fraction = depth_fraction

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

    def set_base_rate(self, rate):
        """The rate the model trains with (before any schedule), in the variable too once built."""
        _check_rate(rate)
        self.base_rate = float(rate)
        if self.built:
            self.rate.assign(self.base_rate)

    def get_config(self):
        return {**super().get_config(), "rate": self.base_rate,
                "depth_fraction": self.depth_fraction}


def _check_rate(rate):
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"DropPath rate must be in [0, 1), got {rate}.")


def drop_path_layers(model):
    """The DropPath layers of ``model``, in the order it tracks them (depth order)."""
    return [m for m in model.submodules if isinstance(m, DropPath)]


def tag_drop_path_depth(blocks, rule):
    """Tags every DropPath inside ``blocks[i]`` (a block, or a DropPath itself) with the depth
    fraction ``DEPTH_RULES[rule](i, len(blocks))``; the DropPaths of one block share it, a block
    without one is skipped but counts. Returns the tagged layers."""
    if rule not in DEPTH_RULES:
        raise ValueError(f"Unknown drop-path rule {rule!r}; use one of {sorted(DEPTH_RULES)}.")
    tagged = []
    for index, block in enumerate(blocks):
        for layer in [block] if isinstance(block, DropPath) else drop_path_layers(block):
            layer.depth_fraction = DEPTH_RULES[rule](index, len(blocks))
            tagged.append(layer)
    return tagged


def set_drop_path_rate(model, rate):
    """Sets the base rate of each DropPath of ``model`` (or of a list of them) to ``rate`` times its
    depth fraction: the stochastic-depth rate of the deepest block. Raises ValueError when
    ``rate > 0`` and there is nothing to drop, or a DropPath was never tagged. Returns the
    layers."""
    layers = list(model) if isinstance(model, (list, tuple)) else drop_path_layers(model)
    rate = float(rate)
    if rate > 0 and not layers:
        raise ValueError(f"drop_path_rate={rate} but {getattr(model, 'name', 'the model')} has no "
                         f"DropPath layers (its family has no residual blocks to drop); use 0.")
    untagged = [layer.name for layer in layers if layer.depth_fraction is None]
    if rate > 0 and untagged:
        raise ValueError(f"drop_path_rate={rate}: DropPath {untagged[0]!r} (and "
                         f"{len(untagged) - 1} more) has no depth fraction; the model should tag "
                         f"its blocks with tfcls.layers.tag_drop_path_depth(blocks, rule).")
    for layer in layers:
        layer.set_base_rate(rate * (layer.depth_fraction or 0.0))
    return layers


def set_drop_path_scale(layers, scale):
    """Sets each DropPath (a list, or all of a model's) to ``base_rate * scale``; ``scale`` may be
    a tensor, so a schedule can call this inside a ``tf.function``. Returns how many were set."""
    if not isinstance(layers, (list, tuple)):
        layers = drop_path_layers(layers)
    for layer in layers:
        layer.rate.assign(layer.base_rate * scale)
    return len(layers)
