"""The training engine: a hand-written ``strategy.run`` loop over tfcls models.

``Trainer`` (loss left to subclasses), ``ClassificationTrainer`` (cross-entropy) and
``DistillationTrainer`` (an example subclass), configured by ``TrainConfig``.
"""
import tfcls  # noqa: F401  (first: selects tf_keras as tf.keras before TensorFlow loads)
from trainers.base import NonFiniteLossError, Trainer  # noqa: F401
from trainers.checkpointing import NonFiniteWeightsError  # noqa: F401
from trainers.classification import ClassificationTrainer  # noqa: F401
from trainers.config import TrainConfig  # noqa: F401
from trainers.distillation import DistillationTrainer, distillation_loss  # noqa: F401
from trainers.strategy import create_strategy, default_jit_compile, is_chief  # noqa: F401

__all__ = ["Trainer", "ClassificationTrainer", "DistillationTrainer", "TrainConfig",
           "NonFiniteLossError", "NonFiniteWeightsError", "create_strategy", "is_chief",
           "default_jit_compile", "distillation_loss"]
