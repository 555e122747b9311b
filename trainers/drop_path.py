"""Drop-path (stochastic depth) rates: linear in depth, and scheduled over training.

Per block, the rate grows linearly with depth up to ``drop_path_rate`` (Huang et al., 2016).
Over training the rates are either constant or ramp linearly from 0 (NASNet's ScheduledDropPath,
Zoph et al., 2018). Rates live in each DropPath's ``rate`` variable, so a schedule assigns them
from the step tensor without retracing the training function.
"""
import tensorflow as tf

from tfcls.layers import drop_path_layers, set_drop_path_scale  # noqa: F401  (used by base)
from tfcls.models.base import linear_drop_path_rates


def set_linear_rates(model, drop_path_rate):
    """Sets the base rates of the model's DropPath layers to grow linearly up to the given rate."""
    layers = drop_path_layers(model)
    if drop_path_rate > 0 and not layers:
        raise ValueError(f"drop_path_rate={drop_path_rate} but {model.name} has no DropPath "
                         f"layers (its family has no residual blocks to drop).")
    for layer, rate in zip(layers, linear_drop_path_rates(drop_path_rate, len(layers))):
        layer.base_rate = rate
        layer.rate.assign(rate)
    return layers


def schedule_scale(schedule, step, total_steps):
    """Fraction of the base rates to use at ``step``: 1, or step / total_steps ("linear")."""
    if schedule == "constant":
        return tf.constant(1.0)
    progress = tf.cast(step, tf.float32) / float(max(total_steps, 1))
    return tf.minimum(progress, 1.0)
