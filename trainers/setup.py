"""Building what the trainer trains: the model (under a precision policy), optimizer and EMA."""
import dataclasses

import tensorflow as tf
import tf_keras

from tfcls.checkpoint import variable_paths
from tfcls.optim import (ExponentialMovingAverage, create_lr_schedule, create_optimizer,
                         model_ema_variables)


def build_model(model, precision, strategy):
    """The built model; a callable is called under ``precision`` (inside the caller's scope)."""
    if isinstance(model, tf_keras.Model):
        built = model
    elif callable(model):
        previous = tf_keras.mixed_precision.global_policy()
        tf_keras.mixed_precision.set_global_policy(precision)
        try:
            built = model()
        finally:
            tf_keras.mixed_precision.set_global_policy(previous)
    else:
        raise TypeError(f"model must be a tf_keras.Model or a callable returning one, got "
                        f"{type(model).__name__}.")
    if not built.built or not built.variables:
        raise ValueError(f"Model {built.name} is not built: build it first (tfcls.create_model "
                         f"does) or call model.build((None, height, width, 3)).")
    policy = built.dtype_policy.name
    if policy != precision:
        raise ValueError(
            f"Model {built.name} was built with the {policy!r} policy but TrainConfig.precision is "
            f"{precision!r}. Pass a callable that builds the model so the trainer can build it "
            f"under the right policy, or build it after "
            f"tf_keras.mixed_precision.set_global_policy({precision!r}).")
    if (strategy is not tf.distribute.get_strategy() or tf.distribute.has_strategy()) and \
            not strategy.extended.variable_created_in_scope(built.variables[0]):
        raise ValueError(f"Model {built.name} was built outside strategy.scope(): pass a "
                         f"callable that builds it (the trainer calls it inside the scope), or "
                         f"build it under `with strategy.scope():`.")
    return built


def build_optimizer(optimizer_cfg, schedule_cfg, total_steps, precision, model):
    """Optimizer (``OptimizerConfig``) with its LR schedule (``ScheduleConfig``, spanning
    ``total_steps``) and dynamic loss scaling for float16, slots built."""
    schedule = dataclasses.asdict(schedule_cfg)
    schedule = create_lr_schedule(schedule.pop("name"), schedule.pop("learning_rate"),
                                  total_steps=total_steps, **schedule)
    settings = dataclasses.asdict(optimizer_cfg)
    optimizer = create_optimizer(settings.pop("name"), schedule,
                                 global_clipnorm=settings.pop("clip_grad_norm"), **settings)
    if precision == "mixed_float16":
        optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)
    return optimizer


def build_ema(cfg, model):
    """``(ExponentialMovingAverage or None, stable path of each averaged variable)``."""
    if not cfg.ema_decay:
        return None, []
    variables = model_ema_variables(model)
    path_of = {id(v): p for p, v in variable_paths(model, "model").items()}
    ema = ExponentialMovingAverage(variables, decay=cfg.ema_decay, warmup=cfg.ema_warmup)
    return ema, [path_of[id(v)] for v in variables]


def current_learning_rate(optimizer, last_used=False):
    """The learning rate of the optimizer's next update (or, ``last_used``, of its last one), as
    a Python float."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = inner._learning_rate  # the schedule (or value) the optimizer was created with
    if isinstance(rate, tf_keras.optimizers.schedules.LearningRateSchedule):
        step = inner.iterations - 1 if last_used else inner.iterations
        rate = rate(tf.maximum(step, 0))
    return float(tf.convert_to_tensor(rate))
