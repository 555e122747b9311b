"""Drop-path (stochastic depth) over training: the model sets each DropPath's base rate by its
family's depth rule (``tfcls.layers.set_drop_path_rate``, which the Trainer calls for
``TrainConfig.drop_path_rate``); a schedule here only scales those base rates. Constant, or a ramp
from 0 (NASNet's ScheduledDropPath, Zoph et al., 2018). Rates live in each DropPath's ``rate``
variable, so the schedule assigns them from the step tensor without retracing the training
function.
"""
import tensorflow as tf

from tfcls.layers import (  # noqa: F401  (used by base)
    drop_path_layers, set_drop_path_rate, set_drop_path_scale)


def schedule_scale(schedule, step, total_steps):
    """Fraction of the base rates to use at ``step``: 1, or step / total_steps ("linear")."""
    if schedule == "constant":
        return tf.constant(1.0)
    progress = tf.cast(step, tf.float32) / float(max(total_steps, 1))
    return tf.minimum(progress, 1.0)
