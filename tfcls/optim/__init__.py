"""Optimization pieces for training: optimizers with decoupled weight decay, learning-rate
schedules, an exponential moving average of weights, and the classification loss."""
from tfcls.optim.ema import ExponentialMovingAverage, model_ema_variables  # noqa: F401
from tfcls.optim.lamb import LAMB  # noqa: F401
from tfcls.optim.losses import classification_loss  # noqa: F401
from tfcls.optim.optimizers import (  # noqa: F401
    OPTIMIZER_NAMES, SGD, AdamW, Lion, create_optimizer)
from tfcls.optim.rmsprop import TFRMSprop  # noqa: F401
from tfcls.optim.schedules import (  # noqa: F401
    SCHEDULE_NAMES, ConstantLR, CosineDecay, ExponentialDecay, LinearWarmup, StepDecay,
    create_lr_schedule)
from tfcls.optim.weight_decay import decay_mask, uses_weight_decay  # noqa: F401

__all__ = [
    "create_optimizer", "create_lr_schedule", "ExponentialMovingAverage", "model_ema_variables",
    "classification_loss", "decay_mask", "uses_weight_decay", "SGD", "AdamW", "Lion", "LAMB",
    "TFRMSprop", "ConstantLR", "CosineDecay", "ExponentialDecay", "LinearWarmup", "StepDecay",
    "OPTIMIZER_NAMES", "SCHEDULE_NAMES",
]
