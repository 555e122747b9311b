"""Small facts about (distributed, mixed-precision) variables shared by the optim modules."""
import tensorflow as tf


def true_dtype(variable):
    """The storage dtype of a variable (float32 for a mixed-precision AutoCastVariable)."""
    return getattr(variable, "true_dtype", variable.dtype)


def is_sync_on_read(variable):
    """True for variables each replica keeps its own copy of (Keras BatchNorm statistics)."""
    return getattr(variable, "synchronization", None) == tf.VariableSynchronization.ON_READ
