"""Reusable blocks (tf_keras Layers) that the model families are assembled from."""
from tfcls.layers.activations import get_activation  # noqa: F401
from tfcls.layers.conv import ConvNormAct, symmetric_padding  # noqa: F401
from tfcls.layers.drop_path import DropPath, drop_path_layers, set_drop_path_scale  # noqa: F401
from tfcls.layers.head import ClassifierHead, MlpClassifierHead  # noqa: F401
from tfcls.layers.pooling import AdaptiveAvgPool2D, GlobalPool  # noqa: F401
from tfcls.layers.residual import BasicBlock, Bottleneck, PreActBottleneck  # noqa: F401
from tfcls.layers.dense_layer import DenseLayer  # noqa: F401
from tfcls.layers.layer_scale import LayerScale  # noqa: F401
