"""Optimizers by name, each with decoupled weight decay that skips biases and norm parameters.

``create_optimizer("sgd" | "adamw" | "rmsprop" | "lamb" | "lion", learning_rate, ...)`` returns a
new-style ``tf_keras.optimizers.Optimizer`` that works under ``tf.distribute`` strategies and inside
``tf_keras.mixed_precision.LossScaleOptimizer``. Weight decay is decoupled (Loshchilov & Hutter,
2019) for all of them: ``w -= lr * weight_decay * w`` each step, on variables of rank >= 2 only.
Note that for SGD this is not the L2 penalty of PyTorch's ``SGD(weight_decay=...)``: there the
decay goes through the momentum buffer and is ~1 / (1 - momentum) times stronger.
"""
import tensorflow as tf
import tf_keras

from tfcls.optim._adam import adam_direction
from tfcls.optim.lamb import LAMB
from tfcls.optim.rmsprop import TFRMSprop
from tfcls.optim.weight_decay import RankMaskedWeightDecay


@tf_keras.utils.register_keras_serializable(package="tfcls")
class SGD(RankMaskedWeightDecay, tf_keras.optimizers.SGD):
    """SGD with (Nesterov) momentum, TF convention: ``m = mu * m - lr * g; w += m``
    (Nesterov: ``w += mu * m - lr * g``). Decoupled decay on rank >= 2 variables."""


@tf_keras.utils.register_keras_serializable(package="tfcls")
class AdamW(RankMaskedWeightDecay, tf_keras.optimizers.AdamW):
    """AdamW (Loshchilov & Hutter, 2019) exactly as the paper and PyTorch write it::

        w = w - lr * wd * w;   w = w - lr * m_hat / (sqrt(v_hat) + eps)

    (tf_keras' AdamW adds epsilon before bias correction, i.e. uses eps / sqrt(1 - b2**t)).
    Decay on rank >= 2 variables only.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.0, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, name="AdamW", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, beta_1=beta_1,
                         beta_2=beta_2, epsilon=epsilon, name=name, **kwargs)
        if self.amsgrad:
            raise ValueError("tfcls AdamW does not implement amsgrad; use amsgrad=False.")

    def update_step(self, gradient, variable):
        lr = tf.cast(self.learning_rate, variable.dtype)
        if isinstance(gradient, tf.IndexedSlices):
            variable.assign_sub(lr * adam_direction(self, gradient, variable))
            return
        self._fused_update(gradient, variable, lr)

    def _fused_update(self, gradient, variable, lr):
        """The same step in one kernel (``ResourceApplyAdam``: one pass over the variable and its
        moments instead of about fifteen; an XLA op too). The kernel steps by
        ``lr * sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + eps_hat)``: the papers' form when
        ``eps_hat = eps * sqrt(1 - b2**t)``."""
        dtype = variable.dtype
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1_power, beta_2_power = tf.pow(beta_1, step), tf.pow(beta_2, step)
        epsilon = tf.cast(self.epsilon, dtype) * tf.sqrt(1.0 - beta_2_power)
        index = self._index_dict[self._var_key(variable)]
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].handle,
            v=self._velocities[index].handle, beta1_power=beta_1_power,
            beta2_power=beta_2_power, lr=lr, beta1=beta_1, beta2=beta_2, epsilon=epsilon,
            grad=tf.cast(gradient, dtype))


@tf_keras.utils.register_keras_serializable(package="tfcls")
class Lion(RankMaskedWeightDecay, tf_keras.optimizers.Lion):
    """Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms")::

        w = w - lr * wd * w;   w = w - lr * sign(b1 * m + (1 - b1) * g);   m = b2 * m + (1 - b2) * g

    (tf_keras' implementation, with the decay restricted to rank >= 2 variables.)
    """


# Per-optimizer defaults for arguments create_optimizer leaves as None.
_DEFAULT_EPSILON = {"adamw": 1e-8, "rmsprop": 1e-3, "lamb": 1e-6}
_DEFAULT_BETA_2 = {"adamw": 0.999, "lamb": 0.999, "lion": 0.99}
OPTIMIZER_NAMES = ("sgd", "adamw", "rmsprop", "lamb", "lion")


def create_optimizer(name, learning_rate, *, weight_decay=0.0, momentum=0.9, nesterov=False,
                     beta_1=0.9, beta_2=None, epsilon=None, rho=0.9, global_clipnorm=None):
    """Builds the optimizer called ``name`` (one of ``OPTIMIZER_NAMES``).

    Args:
      name: "sgd", "adamw", "rmsprop" (TF1-style, epsilon inside the square root), "lamb" or
        "lion". Case-insensitive.
      learning_rate: a float or a ``tf_keras.optimizers.schedules.LearningRateSchedule``.
      weight_decay: decoupled weight decay rate (multiplied by the current learning rate),
        applied to variables of rank >= 2 only. 0 disables it.
      momentum, nesterov: for "sgd" (nesterov) and "rmsprop" (momentum).
      beta_1, beta_2: for "adamw", "lamb", "lion". ``beta_2=None``: 0.999 (adamw, lamb) or 0.99
        (lion, as in its paper).
      epsilon: for "adamw" (default 1e-8), "rmsprop" (default 1e-3, as the EfficientNet and
        MobileNet recipes), "lamb" (default 1e-6).
      rho: the mean-square decay of "rmsprop".
      global_clipnorm: if set, gradients are clipped to this global norm before the update.
    """
    key = str(name).lower()
    if key not in OPTIMIZER_NAMES:
        raise ValueError(f"Unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZER_NAMES)}.")
    if weight_decay is None or weight_decay < 0:
        raise ValueError(f"weight_decay must be a float >= 0, got {weight_decay!r}.")
    if epsilon is None:
        epsilon = _DEFAULT_EPSILON.get(key)
    if beta_2 is None:
        beta_2 = _DEFAULT_BETA_2.get(key)
    common = {"learning_rate": learning_rate, "weight_decay": float(weight_decay),
              "global_clipnorm": global_clipnorm}
    if key == "sgd":
        return SGD(momentum=momentum, nesterov=nesterov, **common)
    if key == "adamw":
        return AdamW(beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, **common)
    if key == "rmsprop":
        return TFRMSprop(rho=rho, momentum=momentum, epsilon=epsilon, **common)
    if key == "lamb":
        return LAMB(beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, **common)
    return Lion(beta_1=beta_1, beta_2=beta_2, **common)
