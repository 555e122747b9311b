"""Multi-branch blocks (Szegedy et al., 2014, "Going Deeper with Convolutions"): parallel branches
on one input, concatenated on channels, as the Inception families build them."""
import tensorflow as tf
import tf_keras

from tfcls.layers.conv import ConvNormAct


def _run(layers, x, training):
    for layer in layers:
        x = layer(x, training=training)
    return x


class Branches(tf_keras.layers.Layer):
    """Runs each branch (a sequence of layers, e.g. ConvNormActs and a pool, or a nested
    ``Branches``) on the same input and concatenates their outputs on the channel axis, in the
    order given (the reference's concatenation order).

    Args:
      branches: list of ``(name, [layer, ...])``; the name is for reading (``branch_names``), the
        layers carry their own names.
    """

    def __init__(self, branches, **kwargs):
        super().__init__(**kwargs)
        if not branches:
            raise ValueError("Branches needs at least one branch.")
        self.branch_names = [name for name, _ in branches]
        self.branches = [list(layers) for _, layers in branches]

    def call(self, x, training=None):
        return tf.concat([_run(layers, x, training) for layers in self.branches], axis=-1)

    def get_config(self):
        return {**super().get_config(), "branch_names": self.branch_names}


class CeilMaxPool2D(tf_keras.layers.Layer):
    """Max-pool without padding that keeps the last, partial window: PyTorch's
    ``MaxPool2d(k, s, ceil_mode=True)`` (torchvision's GoogLeNet), i.e. ``ceil((n - k) / s) + 1``
    outputs per axis."""

    def __init__(self, pool_size, strides, **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides = int(pool_size), int(strides)

    def call(self, x):
        height = x.shape[1] if x.shape[1] is not None else tf.shape(x)[1]
        width = x.shape[2] if x.shape[2] is not None else tf.shape(x)[2]
        pad_h = (self.pool_size - height) % self.strides
        pad_w = (self.pool_size - width) % self.strides
        x = tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], constant_values=x.dtype.min)
        return tf.nn.max_pool2d(x, self.pool_size, self.strides, "VALID")

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides}


def build_branches(branches, make_conv, make_pool, name):
    """A ``Branches`` block from a compact spec, the way papers draw Inception modules.

    ``branches`` is a list of branches; a branch is a list of steps, each step either
    ``(filters, kernel[, strides[, padding]])`` -> ``make_conv(filters, kernel, strides, padding,
    name=...)``, a string -> ``make_pool(string, name=...)`` (e.g. "avg", "max"), or a list of
    branches: a nested split concatenated in place (Inception-v3's 1x3 | 3x1 pairs). Layers are
    named ``branch{b}_{step}`` (nested: ``branch{b}_{step}{a, b, ...}_{step}``).
    """
    def make_branch(steps, prefix):
        layers = []
        for index, step in enumerate(steps):
            step_name = f"{prefix}_{index + 1}"
            if isinstance(step, str):
                layers.append(make_pool(step, name=step_name))
            elif isinstance(step, list):
                layers.append(Branches(
                    [(f"{step_name}{chr(97 + j)}", make_branch(sub, f"{step_name}{chr(97 + j)}"))
                     for j, sub in enumerate(step)], name=step_name))
            else:
                filters, kernel, strides, padding = tuple(step) + (1, None)[len(step) - 2:]
                layers.append(make_conv(filters, kernel, strides, padding, name=step_name))
        return layers

    return Branches([(f"branch{b}", make_branch(steps, f"branch{b}"))
                     for b, steps in enumerate(branches)], name=name)


def conv_layers(layers):
    """The ConvNormAct layers under ``layers`` (a layer or a list), in the order they compute:
    branch by branch; a block with a ``computation_order()`` method (Inception-ResNet's residual
    block: branches, then projection) in the order it gives."""
    if isinstance(layers, (list, tuple)):
        return [conv for layer in layers for conv in conv_layers(layer)]
    if isinstance(layers, ConvNormAct):
        return [layers]
    if isinstance(layers, Branches):
        return conv_layers([layer for branch in layers.branches for layer in branch])
    order = getattr(layers, "computation_order", None)  # a block listing its own sublayers
    return conv_layers(order()) if order is not None else []
