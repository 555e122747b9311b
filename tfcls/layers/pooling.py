"""Pooling layers that work at any input size."""
import tensorflow as tf
import tf_keras


def _bin_matrix(in_size, out_size, dtype):
    """(out_size, in_size) averaging matrix of adaptive pooling: bin i covers
    [floor(i * in / out), ceil((i + 1) * in / out)), as torch.nn.AdaptiveAvgPool2d."""
    i = tf.range(out_size)
    start = (i * in_size) // out_size
    end = -((-(i + 1) * in_size) // out_size)
    pos = tf.range(in_size)[None, :]
    inside = tf.logical_and(pos >= start[:, None], pos < end[:, None])
    weights = tf.cast(inside, dtype)
    return weights / tf.reduce_sum(weights, axis=1, keepdims=True)


class AdaptiveAvgPool2D(tf_keras.layers.Layer):
    """Average pooling to a fixed output grid for any input size (PyTorch's AdaptiveAvgPool2d)."""

    def __init__(self, output_size=7, **kwargs):
        super().__init__(**kwargs)
        self.output_size = int(output_size)

    def call(self, x):
        shape = tf.shape(x)
        rows = _bin_matrix(shape[1], self.output_size, x.dtype)
        cols = _bin_matrix(shape[2], self.output_size, x.dtype)
        return tf.einsum("ih,bhwc,jw->bijc", rows, x, cols)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], self.output_size, self.output_size, input_shape[-1]])

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size}


class GlobalPool(tf_keras.layers.Layer):
    """Global spatial pooling of an NHWC map: "avg", "max" or "avgmax" (their mean)."""

    def __init__(self, pool_type="avg", **kwargs):
        super().__init__(**kwargs)
        if pool_type not in ("avg", "max", "avgmax"):
            raise ValueError(f"pool_type must be 'avg', 'max' or 'avgmax', got {pool_type!r}.")
        self.pool_type = pool_type

    def call(self, x):
        if self.pool_type == "avg":
            return tf.reduce_mean(x, axis=[1, 2])
        if self.pool_type == "max":
            return tf.reduce_max(x, axis=[1, 2])
        return 0.5 * (tf.reduce_mean(x, axis=[1, 2]) + tf.reduce_max(x, axis=[1, 2]))

    def get_config(self):
        return {**super().get_config(), "pool_type": self.pool_type}
