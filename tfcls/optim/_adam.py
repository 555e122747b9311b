"""The Adam direction (Kingma & Ba, 2015) that AdamW and LAMB both step along."""
import tensorflow as tf


def adam_direction(optimizer, gradient, variable):
    """Updates the optimizer's first/second moments of ``variable`` and returns
    ``m_hat / (sqrt(v_hat) + eps)`` with bias-corrected moments (the papers' and PyTorch's form).

    ``optimizer`` keeps its moments in ``_momentums``/``_velocities`` (tf_keras' Adam layout).
    """
    if isinstance(gradient, tf.IndexedSlices):
        gradient = tf.convert_to_tensor(gradient)
    dtype = variable.dtype
    beta_1 = tf.cast(optimizer.beta_1, dtype)
    beta_2 = tf.cast(optimizer.beta_2, dtype)
    step = tf.cast(optimizer.iterations + 1, dtype)
    index = optimizer._index_dict[optimizer._var_key(variable)]
    m, v = optimizer._momentums[index], optimizer._velocities[index]
    m.assign(beta_1 * m + (1.0 - beta_1) * gradient)
    v.assign(beta_2 * v + (1.0 - beta_2) * tf.square(gradient))
    m_hat = m / (1.0 - tf.pow(beta_1, step))
    v_hat = v / (1.0 - tf.pow(beta_2, step))
    return m_hat / (tf.sqrt(v_hat) + tf.cast(optimizer.epsilon, dtype))
