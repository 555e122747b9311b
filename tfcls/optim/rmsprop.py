"""RMSProp as TF1 computes it (Tieleman & Hinton, 2012; `tf.compat.v1.train.RMSPropOptimizer`).

The EfficientNet, MobileNet and MnasNet recipes were tuned with this variant. It differs from
``tf_keras.optimizers.RMSprop`` in three ways: epsilon sits inside the square root, the mean
square starts at 1 (not 0), and the learning rate is folded into the momentum buffer::

    ms  = rho * ms + (1 - rho) * g**2                    # ms starts at 1
    mom = momentum * mom + lr * g / sqrt(ms + epsilon)   # centered: ms - mg**2 + epsilon
    w   = w - mom
"""
import tensorflow as tf
import tf_keras

from tfcls.optim._variables import true_dtype
from tfcls.optim.weight_decay import RankMaskedWeightDecay


@tf_keras.utils.register_keras_serializable(package="tfcls")
class TFRMSprop(RankMaskedWeightDecay, tf_keras.optimizers.Optimizer):
    """TF1-style RMSProp with decoupled weight decay on rank >= 2 variables (see module doc)."""

    def __init__(self, learning_rate=0.01, rho=0.9, momentum=0.9, epsilon=1e-3, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 jit_compile=True, name="TFRMSprop", **kwargs):
        super().__init__(name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm,
                         jit_compile=jit_compile, **kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"TFRMSprop momentum must be in [0, 1), got {momentum}.")
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def build(self, var_list):
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self._built = True
        self._mean_squares = [  # TF1 starts the mean square at 1
            self.add_variable_from_reference(v, "rms",
                                             initial_value=tf.ones(v.shape, true_dtype(v)))
            for v in var_list]
        self._momentums = [self.add_variable_from_reference(v, "momentum") for v in var_list]
        self._mean_grads = ([self.add_variable_from_reference(v, "mg") for v in var_list]
                            if self.centered else [])

    def update_step(self, gradient, variable):
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        dtype = variable.dtype
        lr = tf.cast(self.learning_rate, dtype)
        rho = tf.cast(self.rho, dtype)
        index = self._index_dict[self._var_key(variable)]
        mean_square = self._mean_squares[index]
        mean_square.assign(rho * mean_square + (1.0 - rho) * tf.square(gradient))
        denominator = mean_square + tf.cast(self.epsilon, dtype)
        if self.centered:
            mean_grad = self._mean_grads[index]
            mean_grad.assign(rho * mean_grad + (1.0 - rho) * gradient)
            denominator = denominator - tf.square(mean_grad)
        momentum = self._momentums[index]
        momentum.assign(tf.cast(self.momentum, dtype) * momentum
                        + lr * gradient * tf.math.rsqrt(denominator))
        variable.assign_sub(momentum)

    def get_config(self):
        return {**super().get_config(),
                "learning_rate": self._serialize_hyperparameter(self._learning_rate),
                "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}

