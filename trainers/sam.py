"""Sharpness-aware minimization (Foret et al., 2021, "Sharpness-Aware Minimization for Efficiently
Improving Generalization"): an example of changing the update by overriding one method.

Each update takes the gradient g at the weights w, moves to w + rho * g / |g| (|g| the global
norm of the all-reduced gradient), takes the gradient there, returns to w and lets the optimizer
apply that second gradient. Two forward/backward passes per update; batch norm's moving
statistics see both.
"""
import tensorflow as tf

from trainers.classification import ClassificationTrainer


class SAMTrainer(ClassificationTrainer):
    """ClassificationTrainer with SAM's gradient; ``rho`` is the radius of the ascent step."""

    def __init__(self, model, config=None, strategy=None, rho=0.05, **kwargs):
        if rho <= 0:
            raise ValueError(f"rho must be > 0, got {rho}.")
        self.rho = float(rho)
        super().__init__(model, config, strategy, **kwargs)

    def compute_gradients(self, images, labels, step):
        grads, stats = super().compute_gradients(images, labels, step)  # all-reduced: global
        scale = self.rho / (tf.linalg.global_norm(grads) + 1e-12)
        weights = self.model.trainable_variables
        saved = [tf.identity(w) for w in weights]
        for w, g in zip(weights, grads):
            w.assign_add(tf.cast(g * scale, w.dtype))  # every replica the same: copies agree
        grads, _ = super().compute_gradients(images, labels, step)  # at w + rho * g / |g|
        for w, value in zip(weights, saved):
            w.assign(value)
        return grads, stats  # stats (loss, accuracy) of the weights w
