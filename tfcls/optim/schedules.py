"""Learning-rate schedules: linear warmup, then cosine, step, exponential or constant.

All are ``tf_keras.optimizers.schedules.LearningRateSchedule`` objects of the optimizer step
(``optimizer.iterations``: 0 for the first update), serializable with ``get_config``. Warmup goes
linearly from ``warmup_init_lr`` at step 0 to ``base_lr`` at ``warmup_steps``; the decay then
takes over. Cosine decays over the steps after warmup (``base_lr`` at ``warmup_steps``,
``min_lr`` at ``total_steps``); step and exponential decay count steps from 0, as in the ResNet
(step boundaries at epochs 30/60/80) and EfficientNet (x0.97 every 2.4 epochs) recipes.
"""
import math

import tensorflow as tf
import tf_keras

_Schedule = tf_keras.optimizers.schedules.LearningRateSchedule
_register = tf_keras.utils.register_keras_serializable(package="tfcls")


def _step_float(step):
    return tf.cast(step, tf.float32)


@_register
class ConstantLR(_Schedule):
    """A constant learning rate."""

    def __init__(self, base_lr):
        self.base_lr = float(base_lr)

    def __call__(self, step):
        return tf.ones_like(_step_float(step)) * self.base_lr

    def get_config(self):
        return {"base_lr": self.base_lr}


@_register
class CosineDecay(_Schedule):
    """Half-cosine from ``base_lr`` at ``offset`` to ``min_lr`` at ``offset + decay_steps``
    (Loshchilov & Hutter, 2017, "SGDR", without restarts); ``min_lr`` afterwards."""

    def __init__(self, base_lr, decay_steps, min_lr=0.0, offset=0):
        if decay_steps <= 0:
            raise ValueError(f"Cosine decay needs decay_steps > 0, got {decay_steps}.")
        self.base_lr, self.min_lr = float(base_lr), float(min_lr)
        self.decay_steps, self.offset = int(decay_steps), int(offset)

    def __call__(self, step):
        progress = tf.clip_by_value((_step_float(step) - self.offset) / self.decay_steps, 0.0, 1.0)
        cosine = 0.5 * (1.0 + tf.cos(math.pi * progress))
        return self.min_lr + (self.base_lr - self.min_lr) * cosine

    def get_config(self):
        return {"base_lr": self.base_lr, "decay_steps": self.decay_steps, "min_lr": self.min_lr,
                "offset": self.offset}


@_register
class StepDecay(_Schedule):
    """``base_lr * decay_rate ** k``, k = the number of boundaries passed (``step >= boundary``),
    or ``floor(step / decay_steps)`` when given ``decay_steps``; never below ``min_lr``."""

    def __init__(self, base_lr, decay_rate, boundaries=None, decay_steps=None, min_lr=0.0):
        if (boundaries is None) == (decay_steps is None):
            raise ValueError("Step decay needs exactly one of decay_steps or boundaries.")
        if decay_steps is not None and decay_steps <= 0:
            raise ValueError(f"Step decay needs decay_steps > 0, got {decay_steps}.")
        if boundaries is not None:
            boundaries = [int(b) for b in boundaries]
            if not boundaries or any(a >= b for a, b in zip(boundaries, boundaries[1:])):
                raise ValueError(f"Step boundaries must be a non-empty increasing list, "
                                 f"got {boundaries}.")
        self.base_lr, self.min_lr = float(base_lr), float(min_lr)
        self.decay_rate = float(decay_rate)
        self.boundaries = boundaries
        self.decay_steps = None if decay_steps is None else float(decay_steps)

    def __call__(self, step):
        step = _step_float(step)
        if self.boundaries is not None:
            passed = [tf.cast(step >= b, tf.float32) for b in self.boundaries]
            num_decays = tf.add_n(passed)
        else:
            num_decays = tf.floor(step / self.decay_steps)
        return tf.maximum(self.base_lr * tf.pow(self.decay_rate, num_decays), self.min_lr)

    def get_config(self):
        return {"base_lr": self.base_lr, "decay_rate": self.decay_rate,
                "boundaries": self.boundaries, "decay_steps": self.decay_steps,
                "min_lr": self.min_lr}


@_register
class ExponentialDecay(_Schedule):
    """``base_lr * decay_rate ** (step / decay_steps)`` (floored exponent if ``staircase``),
    never below ``min_lr``."""

    def __init__(self, base_lr, decay_rate, decay_steps, staircase=False, min_lr=0.0):
        if decay_steps is None or decay_steps <= 0:
            raise ValueError(f"Exponential decay needs decay_steps > 0, got {decay_steps}.")
        self.base_lr, self.min_lr = float(base_lr), float(min_lr)
        self.decay_rate = float(decay_rate)
        self.decay_steps, self.staircase = float(decay_steps), bool(staircase)

    def __call__(self, step):
        exponent = _step_float(step) / self.decay_steps
        if self.staircase:
            exponent = tf.floor(exponent)
        return tf.maximum(self.base_lr * tf.pow(self.decay_rate, exponent), self.min_lr)

    def get_config(self):
        return {"base_lr": self.base_lr, "decay_rate": self.decay_rate,
                "decay_steps": self.decay_steps, "staircase": self.staircase,
                "min_lr": self.min_lr}


@_register
class LinearWarmup(_Schedule):
    """Linear from ``warmup_init_lr`` (step 0) to ``peak_lr`` (step ``warmup_steps``), then
    ``after_warmup(step)``."""

    def __init__(self, after_warmup, warmup_steps, peak_lr, warmup_init_lr=0.0):
        if isinstance(after_warmup, dict):
            after_warmup = tf_keras.optimizers.schedules.deserialize(after_warmup)
        self.after_warmup = after_warmup
        self.warmup_steps, self.peak_lr = int(warmup_steps), float(peak_lr)
        self.warmup_init_lr = float(warmup_init_lr)

    def __call__(self, step):
        step = _step_float(step)
        fraction = step / max(self.warmup_steps, 1)
        warmup_lr = self.warmup_init_lr + (self.peak_lr - self.warmup_init_lr) * fraction
        return tf.where(step < self.warmup_steps, warmup_lr, self.after_warmup(step))

    def get_config(self):
        return {"after_warmup": tf_keras.optimizers.schedules.serialize(self.after_warmup),
                "warmup_steps": self.warmup_steps, "peak_lr": self.peak_lr,
                "warmup_init_lr": self.warmup_init_lr}


SCHEDULE_NAMES = ("cosine", "step", "exponential", "constant")


def create_lr_schedule(name, base_lr, *, total_steps=None, warmup_steps=0, warmup_init_lr=0.0,
                       min_lr=0.0, decay_steps=None, decay_rate=0.1, boundaries=None,
                       staircase=False):
    """Builds the schedule called ``name`` (one of ``SCHEDULE_NAMES``), with linear warmup.

    Args:
      name: "cosine" (to ``min_lr`` at ``total_steps``), "step" (x ``decay_rate`` every
        ``decay_steps``, or at each of ``boundaries``), "exponential" (x ``decay_rate`` per
        ``decay_steps``, continuous unless ``staircase``) or "constant".
      base_lr: the learning rate reached at the end of warmup.
      total_steps: training length in optimizer steps; required for "cosine".
      warmup_steps, warmup_init_lr: linear warmup length and starting value (0: no warmup).
      min_lr: the floor of every decay.
    """
    key = str(name).lower()
    if key not in SCHEDULE_NAMES:
        raise ValueError(f"Unknown learning-rate schedule {name!r}; choose one of "
                         f"{', '.join(SCHEDULE_NAMES)}.")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}.")
    if key == "cosine":
        if total_steps is None or total_steps <= warmup_steps:
            raise ValueError(f"Cosine schedule needs total_steps > warmup_steps, got "
                             f"total_steps={total_steps}, warmup_steps={warmup_steps}.")
        schedule = CosineDecay(base_lr, total_steps - warmup_steps, min_lr, offset=warmup_steps)
    elif key == "step":
        schedule = StepDecay(base_lr, decay_rate, boundaries=boundaries, decay_steps=decay_steps,
                             min_lr=min_lr)
    elif key == "exponential":
        schedule = ExponentialDecay(base_lr, decay_rate, decay_steps, staircase=staircase,
                                    min_lr=min_lr)
    else:
        schedule = ConstantLR(base_lr)
    if warmup_steps == 0:
        return schedule
    return LinearWarmup(schedule, warmup_steps, base_lr, warmup_init_lr)
