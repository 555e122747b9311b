"""LAMB: layer-wise adaptive moments (You et al., 2019, "Large Batch Optimization for Deep
Learning: Training BERT in 76 minutes", Algorithm 2)::

    m = b1 * m + (1 - b1) * g;   v = b2 * v + (1 - b2) * g**2
    r = m_hat / (sqrt(v_hat) + eps) + wd * w          # m_hat, v_hat: bias-corrected
    w = w - lr * (||w|| / ||r||) * r                   # trust ratio 1 if either norm is 0

Weight decay lives inside the trust ratio, so it is not the base optimizer's decoupled step. As in
timm (and the TF-Addons default), variables of rank <= 1 get neither decay nor the trust ratio
(set ``always_adapt=True`` to give them the trust ratio anyway).
"""
import tensorflow as tf
import tf_keras

from tfcls.optim._adam import adam_direction
from tfcls.optim.weight_decay import RankMaskedWeightDecay, weight_decay_is_off


@tf_keras.utils.register_keras_serializable(package="tfcls")
class LAMB(RankMaskedWeightDecay, tf_keras.optimizers.Optimizer):
    """LAMB with bias correction; decay and trust ratio for rank >= 2 variables (see module doc)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
                 weight_decay=None, always_adapt=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, jit_compile=True, name="LAMB", **kwargs):
        super().__init__(name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm,
                         jit_compile=jit_compile, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.always_adapt = always_adapt

    def build(self, var_list):
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self._built = True
        self._momentums = [self.add_variable_from_reference(v, "m") for v in var_list]
        self._velocities = [self.add_variable_from_reference(v, "v") for v in var_list]

    def _apply_weight_decay(self, variables):
        """No separate decay step: LAMB decays inside its update (see ``update_step``)."""

    def update_step(self, gradient, variable):
        dtype = variable.dtype
        lr = tf.cast(self.learning_rate, dtype)
        update = adam_direction(self, gradient, variable)
        decayed = self._use_weight_decay(variable)
        if decayed and not weight_decay_is_off(self.weight_decay):
            update += tf.cast(self.weight_decay, dtype) * variable
        if decayed or self.always_adapt:
            update *= _trust_ratio(variable, update)
        variable.assign_sub(lr * update)

    def get_config(self):
        return {**super().get_config(),
                "learning_rate": self._serialize_hyperparameter(self._learning_rate),
                "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "always_adapt": self.always_adapt}


def _trust_ratio(variable, update):
    """||w|| / ||update||, or 1 where either norm is zero (You et al., 2019)."""
    weight_norm = tf.norm(variable)
    update_norm = tf.norm(update)
    safe_ratio = weight_norm / tf.where(update_norm > 0.0, update_norm, 1.0)
    return tf.where((weight_norm > 0.0) & (update_norm > 0.0), safe_ratio, 1.0)
