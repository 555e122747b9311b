"""Weight initializations of the references, set on layers before they are built."""
import math

import tf_keras


def he_fan_out_normal():
    """He et al. (2015, "Delving Deep into Rectifiers"): normal with variance 2 / fan_out, as
    torchvision's ``kaiming_normal_(mode="fan_out", nonlinearity="relu")`` for ResNet and VGG."""
    return tf_keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


def torch_default_init(fan_in, depthwise=False):
    """PyTorch's default ``nn.Linear`` / ``nn.Conv2d`` init as keras initializer arguments:
    kernel and bias uniform in +-1/sqrt(fan_in), fan_in = in_channels / groups * kh * kw. A keras
    depthwise kernel is stored (kh, kw, C, 1), so torch's fan_in (kh * kw) is keras' fan_out."""
    bound = 1.0 / math.sqrt(fan_in)
    return dict(kernel_initializer=tf_keras.initializers.VarianceScaling(
                    1 / 3, "fan_out" if depthwise else "fan_in", "uniform"),
                bias_initializer=tf_keras.initializers.RandomUniform(-bound, bound))


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


def use_he_conv_init(module):
    """Gives every convolution inside ``module`` (not yet built) ``he_fan_out_normal`` kernels;
    biases stay zero. Dense layers are left to the caller (references differ there)."""
    for layer in module.submodules:
        if isinstance(layer, tf_keras.layers.DepthwiseConv2D):
            layer.depthwise_initializer = he_fan_out_normal()
        elif isinstance(layer, tf_keras.layers.Conv2D):
            layer.kernel_initializer = he_fan_out_normal()
