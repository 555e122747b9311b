"""Activation functions by name, so that blocks can store them as strings in ``get_config``."""
import tensorflow as tf

_ACTIVATIONS = {
    "relu": tf.nn.relu,
    "relu6": tf.nn.relu6,
    "swish": tf.nn.silu,
    "silu": tf.nn.silu,
    "gelu": lambda x: tf.nn.gelu(x, approximate=False),
    "sigmoid": tf.nn.sigmoid,
    "hard_sigmoid": lambda x: tf.nn.relu6(x + 3.0) / 6.0,
    "hard_swish": lambda x: x * tf.nn.relu6(x + 3.0) / 6.0,
    "tanh": tf.nn.tanh,
}


def get_activation(name):
    """Returns the activation function called ``name``, or None for None / "linear"."""
    if name is None or name == "linear":
        return None
    if callable(name):
        return name
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"Unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}.") from None
