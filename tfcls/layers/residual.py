"""Residual blocks of ResNet v1 (He et al., 2015, "Deep Residual Learning for Image Recognition")
and v2 (He et al., 2016, "Identity Mappings in Deep Residual Networks")."""
import tensorflow as tf
import tf_keras

from tfcls.layers.conv import ConvNormAct
from tfcls.layers.drop_path import DropPath


class _ResidualBlock(tf_keras.layers.Layer):
    """Shared config plumbing of the residual blocks below."""

    def __init__(self, filters, strides=1, project_shortcut=False, drop_path_rate=0.0,
                 norm_eps=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides = int(filters), int(strides)
        self.project_shortcut = bool(project_shortcut)
        self.drop_path_rate, self.norm_eps = float(drop_path_rate), float(norm_eps)
        self.drop_path = DropPath(self.drop_path_rate, name="drop_path")

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides,
                "project_shortcut": self.project_shortcut, "drop_path_rate": self.drop_path_rate,
                "norm_eps": self.norm_eps}


class BasicBlock(_ResidualBlock):
    """Two 3x3 conv-BN pairs plus the (projected) input, then ReLU: ResNet-18/34 as torchvision.

    ``filters`` is the output width; a 1x1 conv + BN projects the shortcut when
    ``project_shortcut`` (stride or width change).
    """

    expansion = 1

    def __init__(self, filters, strides=1, project_shortcut=False, drop_path_rate=0.0,
                 norm_eps=1e-5, **kwargs):
        super().__init__(filters, strides, project_shortcut, drop_path_rate, norm_eps, **kwargs)
        self.conv1 = ConvNormAct(filters, 3, strides, norm_eps=norm_eps, name="conv1")
        self.conv2 = ConvNormAct(filters, 3, 1, act=None, norm_eps=norm_eps, name="conv2")
        self.shortcut = (ConvNormAct(filters, 1, strides, act=None, norm_eps=norm_eps,
                                     name="shortcut") if project_shortcut else None)

    def call(self, x, training=None):
        shortcut = x if self.shortcut is None else self.shortcut(x, training=training)
        x = self.conv2(self.conv1(x, training=training), training=training)
        return tf.nn.relu(shortcut + self.drop_path(x, training=training))

    def zero_init_last(self):
        """The residual branch starts at zero: its last BN's gamma is initialized to 0."""
        self.conv2.bn.gamma_initializer = tf_keras.initializers.Zeros()


class Bottleneck(_ResidualBlock):
    """1x1 reduce -> 3x3 -> 1x1 expand (x4), each with BN, plus the shortcut, then ReLU.

    ``stride_in_1x1=True`` and ``use_bias=True`` give the original (Caffe / keras.applications)
    layout; ``False`` for both gives torchvision's "v1.5". ``filters`` is the bottleneck width.
    """

    expansion = 4

    def __init__(self, filters, strides=1, project_shortcut=False, drop_path_rate=0.0,
                 norm_eps=1e-5, stride_in_1x1=True, use_bias=True, **kwargs):
        super().__init__(filters, strides, project_shortcut, drop_path_rate, norm_eps, **kwargs)
        self.stride_in_1x1, self.use_bias = bool(stride_in_1x1), bool(use_bias)
        s1, s3 = (strides, 1) if stride_in_1x1 else (1, strides)
        common = dict(use_bias=use_bias, norm_eps=norm_eps)
        out = filters * self.expansion
        self.conv1 = ConvNormAct(filters, 1, s1, name="conv1", **common)
        self.conv2 = ConvNormAct(filters, 3, s3, name="conv2", **common)
        self.conv3 = ConvNormAct(out, 1, 1, act=None, name="conv3", **common)
        self.shortcut = (ConvNormAct(out, 1, strides, act=None, name="shortcut", **common)
                         if project_shortcut else None)

    def call(self, x, training=None):
        shortcut = x if self.shortcut is None else self.shortcut(x, training=training)
        x = self.conv1(x, training=training)
        x = self.conv3(self.conv2(x, training=training), training=training)
        return tf.nn.relu(shortcut + self.drop_path(x, training=training))

    def zero_init_last(self):
        """The residual branch starts at zero: its last BN's gamma is initialized to 0."""
        self.conv3.bn.gamma_initializer = tf_keras.initializers.Zeros()

    def get_config(self):
        return {**super().get_config(), "stride_in_1x1": self.stride_in_1x1,
                "use_bias": self.use_bias}


class PreActBottleneck(_ResidualBlock):
    """Pre-activation bottleneck (ResNet v2), keras.applications layout: BN-ReLU first, shared by
    the residual branch and a projected shortcut; 1x1 -> 3x3 (strided) -> 1x1 with bias, no
    activation after the add. An unprojected strided shortcut is a 1x1 max-pool (subsampling)."""

    expansion = 4

    def __init__(self, filters, strides=1, project_shortcut=False, drop_path_rate=0.0,
                 norm_eps=1.001e-5, **kwargs):
        super().__init__(filters, strides, project_shortcut, drop_path_rate, norm_eps, **kwargs)
        out = filters * self.expansion
        self.preact = tf_keras.layers.BatchNormalization(epsilon=norm_eps, momentum=0.9,
                                                         name="preact_bn")
        self.conv1 = ConvNormAct(filters, 1, 1, norm_eps=norm_eps, name="conv1")
        self.conv2 = ConvNormAct(filters, 3, strides, norm_eps=norm_eps, name="conv2")
        self.conv3 = ConvNormAct(out, 1, 1, use_bias=True, norm=None, act=None, name="conv3")
        self.shortcut = (ConvNormAct(out, 1, strides, use_bias=True, norm=None, act=None,
                                     name="shortcut") if project_shortcut else None)

    def call(self, x, training=None):
        preact = tf.nn.relu(self.preact(x, training=training))
        if self.shortcut is not None:
            shortcut = self.shortcut(preact, training=training)
        elif self.strides > 1:
            shortcut = x[:, ::self.strides, ::self.strides, :]
        else:
            shortcut = x
        x = self.conv1(preact, training=training)
        x = self.conv3(self.conv2(x, training=training), training=training)
        return shortcut + self.drop_path(x, training=training)

    def zero_init_last(self):
        """The residual branch starts at zero: its last conv (no BN follows it in v2) is
        initialized to 0, as timm's ``zero_init_last`` for pre-activation blocks."""
        self.conv3.conv.kernel_initializer = tf_keras.initializers.Zeros()
