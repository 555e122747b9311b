"""Weight initializations of the PyTorch references, for layers built the tf_keras way."""
import tf_keras


def use_torch_default_init(module):
    """Gives every Conv2D, DepthwiseConv2D and Dense inside ``module`` (not yet built) PyTorch's
    default kernel init, kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which is
    VarianceScaling(1/3, fan_in, uniform). A depthwise kernel is stored (kh, kw, C, 1) in keras, so
    PyTorch's fan_in (kh * kw) is keras' fan_out there. Biases stay zero."""
    for layer in module.submodules:  # a fresh initializer each: a reused one repeats its values
        if isinstance(layer, tf_keras.layers.DepthwiseConv2D):
            layer.depthwise_initializer = tf_keras.initializers.VarianceScaling(
                1 / 3, "fan_out", "uniform")
        elif isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.Dense)):
            layer.kernel_initializer = tf_keras.initializers.VarianceScaling(
                1 / 3, "fan_in", "uniform")
