"""The dense layer of DenseNet (Huang et al., 2017, "Densely Connected Convolutional Networks"),
with the memory-efficient variant of Pleiss et al., 2017 ("Memory-Efficient Implementation of
DenseNets"): the concat -> BN -> ReLU -> 1x1 conv bottleneck is recomputed in the backward pass
(``tf.recompute_grad``) instead of keeping its concatenated input alive.
"""
import tensorflow as tf
import tf_keras


class DenseLayer(tf_keras.layers.Layer):
    """concat(inputs) -> BN -> ReLU -> 1x1 conv (``bn_size * growth_rate``) -> BN -> ReLU ->
    3x3 conv (``growth_rate``). Called on the list of all earlier feature maps of its dense block;
    returns only the ``growth_rate`` new channels.

    With ``memory_efficient=True`` the bottleneck (up to the 1x1 conv) runs under
    ``tf.recompute_grad``: the same outputs, gradients and batch-norm statistics updates, without
    storing the concatenation and the normalized map for the backward pass. Its batch statistics
    are computed outside the recomputed function (per input, concatenated) so the moving averages
    are updated once, as keras' batch norm would (with the unbiased variance when it runs fused, the
    default in float32, else the biased one).
    """

    def __init__(self, growth_rate, bn_size=4, norm_eps=1.001e-5, norm_momentum=0.9,
                 memory_efficient=False, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.growth_rate, self.bn_size = growth_rate, bn_size
        self.norm_eps, self.norm_momentum = norm_eps, norm_momentum
        self.memory_efficient = memory_efficient
        self.kernel_initializer = kernel_initializer
        norm = dict(epsilon=norm_eps, momentum=norm_momentum)
        self.norm1 = tf_keras.layers.BatchNormalization(name="norm1", **norm)
        self.conv1 = tf_keras.layers.Conv2D(bn_size * growth_rate, 1, use_bias=False,
                                            kernel_initializer=kernel_initializer, name="conv1")
        self.norm2 = tf_keras.layers.BatchNormalization(name="norm2", **norm)
        self.conv2 = tf_keras.layers.Conv2D(growth_rate, 3, padding="same", use_bias=False,
                                            kernel_initializer=kernel_initializer, name="conv2")

    def build(self, input_shape):
        channels = sum(int(shape[-1]) for shape in input_shape)
        self.norm1.build((None, None, None, channels))
        self.conv1.build((None, None, None, channels))
        self.norm2.build((None, None, None, self.bn_size * self.growth_rate))
        self.conv2.build((None, None, None, self.bn_size * self.growth_rate))
        super().build(input_shape)

    def call(self, inputs, training=None):
        inputs = list(inputs)
        if self.memory_efficient:
            x = self._recomputed_bottleneck(inputs, bool(training))
        else:
            x = tf.concat(inputs, axis=-1) if len(inputs) > 1 else inputs[0]
            x = self.conv1(tf.nn.relu(self.norm1(x, training=training)))
        return self.conv2(tf.nn.relu(self.norm2(x, training=training)))

    def _recomputed_bottleneck(self, inputs, training):
        norm = self.norm1
        dtype = norm.dtype  # float32 under mixed precision, as keras' batch norm computes
        if training:
            moments = [tf.nn.moments(tf.cast(x, dtype), axes=[0, 1, 2]) for x in inputs]
            mean = tf.concat([m for m, _ in moments], axis=0)
            variance = tf.concat([v for _, v in moments], axis=0)
            self._update_moving_stats(inputs[0], mean, variance)
        else:
            mean, variance = norm.moving_mean, norm.moving_variance

        def bottleneck(mean, variance, *features):
            x = tf.concat([tf.cast(f, dtype) for f in features], axis=-1)
            x = tf.nn.batch_normalization(x, mean, variance, norm.beta, norm.gamma, self.norm_eps)
            x = tf.cast(tf.nn.relu(x), self.compute_dtype)
            kernel = tf.cast(self.conv1.kernel, self.compute_dtype)
            return tf.nn.conv2d(x, kernel, strides=1, padding="VALID")

        return tf.recompute_grad(bottleneck)(tf.convert_to_tensor(mean),
                                             tf.convert_to_tensor(variance), *inputs)

    def _update_moving_stats(self, sample, mean, variance):
        if self.norm1.fused:  # keras' fused kernel averages the unbiased variance, unfused biased
            shape = tf.shape(sample)
            count = tf.cast(shape[0] * shape[1] * shape[2], mean.dtype)
            variance = variance * count / tf.maximum(count - 1.0, 1.0)
        decay = 1.0 - self.norm_momentum
        for moving, value in ((self.norm1.moving_mean, mean),
                              (self.norm1.moving_variance, variance)):
            moving.assign_sub((moving - tf.stop_gradient(value)) * decay)

    def get_config(self):
        return {**super().get_config(), "growth_rate": self.growth_rate, "bn_size": self.bn_size,
                "norm_eps": self.norm_eps, "norm_momentum": self.norm_momentum,
                "memory_efficient": self.memory_efficient,
                "kernel_initializer": tf_keras.initializers.serialize(
                    tf_keras.initializers.get(self.kernel_initializer))}
