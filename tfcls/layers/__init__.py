"""Reusable layers (tf_keras Layers) that the model families are assembled from: primitives (conv,
pooling, drop path, squeeze-excite, heads, init) and the blocks two or more families share
(MBConv, Inception branches, separable convs, channel shuffle). A block only one family uses lives
beside that family in tfcls/models."""
from tfcls.layers.activations import get_activation  # noqa: F401
from tfcls.layers.conv import (ConvNormAct, FastDepthwiseConv2D, symmetric_padding,  # noqa: F401
                               symmetric_padding_layer)
from tfcls.layers.drop_path import (  # noqa: F401
    DEPTH_RULES, DropPath, drop_path_layers, set_drop_path_rate, set_drop_path_scale,
    tag_drop_path_depth)
from tfcls.layers.noise import StatelessDropout, noise_seed  # noqa: F401
from tfcls.layers.head import ClassifierHead, MlpClassifierHead  # noqa: F401
from tfcls.layers.pooling import AdaptiveAvgPool2D, GlobalPool  # noqa: F401
from tfcls.layers.branches import (  # noqa: F401
    Branches, CeilMaxPool2D, build_branches, conv_layers)
from tfcls.layers.shuffle import ChannelShuffle  # noqa: F401
from tfcls.layers.init import (  # noqa: F401
    he_fan_out_normal, torch_default_init, use_he_conv_init, use_torch_default_init)
from tfcls.layers.helpers import make_divisible  # noqa: F401
from tfcls.layers.mbconv import (  # noqa: F401
    FAN_OUT_INIT, DepthwiseSeparableConv, FusedMBConv, InvertedResidual)
from tfcls.layers.squeeze_excite import SqueezeExcite  # noqa: F401
from tfcls.layers.separable import SeparableConvNormAct  # noqa: F401
from tfcls.layers.layer_scale import LayerScale  # noqa: F401
