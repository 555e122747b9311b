"""Reusable blocks (tf_keras Layers) that the model families are assembled from."""
from tfcls.layers.activations import get_activation  # noqa: F401
from tfcls.layers.conv import ConvNormAct, FastDepthwiseConv2D, symmetric_padding  # noqa: F401
from tfcls.layers.drop_path import DropPath, drop_path_layers, set_drop_path_scale  # noqa: F401
from tfcls.layers.noise import StatelessDropout, noise_seed  # noqa: F401
from tfcls.layers.head import ClassifierHead, MlpClassifierHead  # noqa: F401
from tfcls.layers.pooling import AdaptiveAvgPool2D, GlobalPool  # noqa: F401
from tfcls.layers.residual import BasicBlock, Bottleneck, PreActBottleneck  # noqa: F401
from tfcls.layers.branches import (  # noqa: F401
    Branches, CeilMaxPool2D, InceptionResidual, build_branches, conv_layers)
from tfcls.layers.shuffle import ChannelShuffle  # noqa: F401
from tfcls.layers.init import (  # noqa: F401
    he_fan_out_normal, torch_default_init, use_he_conv_init, use_torch_default_init)
from tfcls.layers.dual_path import BnActConv, DualPathBlock  # noqa: F401
from tfcls.layers.helpers import make_divisible  # noqa: F401
from tfcls.layers.mbconv import (  # noqa: F401
    FAN_OUT_INIT, DepthwiseSeparableConv, FusedMBConv, InvertedResidual)
from tfcls.layers.squeeze_excite import SqueezeExcite  # noqa: F401
from tfcls.layers.separable import SeparableConvNormAct  # noqa: F401
from tfcls.layers.nasnet_cells import NormalCell, ReductionCell  # noqa: F401
from tfcls.layers.dense_layer import DenseLayer  # noqa: F401
from tfcls.layers.layer_scale import LayerScale  # noqa: F401
from tfcls.layers.ghost import GhostBottleneck, GhostModule  # noqa: F401
