"""The training engine: a hand-written ``strategy.run`` loop over tfcls models.

``Trainer`` (loss left to subclasses), ``ClassificationTrainer`` (cross-entropy),
``DistillationTrainer`` and ``SAMTrainer`` (example subclasses: one overridden method each),
configured by ``TrainConfig`` (with ``OptimizerConfig`` and ``ScheduleConfig``).

Names load on first use, so ``trainers.config`` (plain Python: the defaults the command line
shares) imports without TensorFlow.
"""
import importlib

_EXPORTS = {
    "Trainer": "trainers.base", "NonFiniteLossError": "trainers.base",
    "NonFiniteWeightsError": "trainers.checkpointing",
    "ClassificationTrainer": "trainers.classification", "TrainConfig": "trainers.config",
    "OptimizerConfig": "trainers.config", "ScheduleConfig": "trainers.config",
    "ConfigError": "trainers.config",
    "DistillationTrainer": "trainers.distillation", "distillation_loss": "trainers.distillation",
    "SAMTrainer": "trainers.sam",
    "create_strategy": "trainers.strategy", "default_jit_compile": "trainers.strategy",
    "is_chief": "trainers.strategy", "num_workers": "trainers.strategy",
    "worker_index": "trainers.strategy",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'trainers' has no attribute {name!r}")
    if _EXPORTS[name] != "trainers.config":
        import tfcls  # noqa: F401  (first: selects tf_keras as tf.keras before TensorFlow loads)
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__():
    return __all__
