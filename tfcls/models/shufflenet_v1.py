"""ShuffleNet v1 (Zhang et al., 2017, "ShuffleNet: An Extremely Efficient Convolutional Neural
Network for Mobile Devices"), the layout of Megvii's official code (megvii-model/ShuffleNet-Series):
a 3x3 stride-2 stem and max-pool, three stages of bottleneck units (grouped 1x1, channel shuffle,
depthwise 3x3, grouped 1x1), global average pooling and a classifier without bias.

As in the official code: the first 1x1 of stage 2 is not grouped (its input has only the stem's
channels); a stride-2 unit concatenates a 3x3 average-pooled shortcut before its main branch;
there is no ReLU after the depthwise conv; the shuffle reads the channels as a
(C / groups, groups) grid (``ChannelShuffle(inverse=True)``); convs are initialized N(0, 1/fan_in
per group) (the stem N(0, 0.01)), batch-norm offsets 1e-4, the classifier N(0, 0.01).
"""
import tensorflow as tf
import tf_keras

from tfcls.layers import ChannelShuffle, ClassifierHead, ConvNormAct
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import ImageClassifier

_UNITS_PER_STAGE = (4, 8, 4)
# (groups, width multiplier): (stem, stage 2, stage 3, stage 4) output channels. g3 and g8 as in
# the official code; g1, g2 and g4 (1.0x) from the paper's Table 1 with the 24-channel stem.
_WIDTHS = {
    (1, 1.0): (24, 144, 288, 576),
    (2, 1.0): (24, 200, 400, 800),
    (3, 0.5): (12, 120, 240, 480),
    (3, 1.0): (24, 240, 480, 960),
    (3, 1.5): (24, 360, 720, 1440),
    (3, 2.0): (48, 480, 960, 1920),
    (4, 1.0): (24, 272, 544, 1088),
    (8, 0.5): (16, 192, 384, 768),
    (8, 1.0): (24, 384, 768, 1536),
    (8, 1.5): (24, 576, 1152, 2304),
    (8, 2.0): (48, 768, 1536, 3072),
}
_OFFICIAL = "megvii-model/ShuffleNet-Series ShuffleNetV1"
_PYTORCHCV = ("pytorchcv shufflenet_g{}_w1 less its classifier bias (1,000), to match the official "
              "layout")


def _official(groups, width, params):
    return Variant(params=params, reference=f"{_OFFICIAL} (group={groups}, {width}x)",
                   arch=dict(groups=groups, width=width))


def _pytorchcv(groups, params):
    return Variant(params=params, reference=_PYTORCHCV.format(groups),
                   arch=dict(groups=groups, width=1.0))


VARIANTS = {
    "shufflenet_v1_g1_100": _pytorchcv(groups=1, params=1_530_936),
    "shufflenet_v1_g2_100": _pytorchcv(groups=2, params=1_732_848),
    "shufflenet_v1_g3_050": _official(groups=3, width=0.5, params=717_324),
    "shufflenet_v1_g3_100": _official(groups=3, width=1.0, params=1_864_728),
    "shufflenet_v1_g3_150": _official(groups=3, width=1.5, params=3_441_168),
    "shufflenet_v1_g3_200": _official(groups=3, width=2.0, params=5_449_776),
    "shufflenet_v1_g4_100": _pytorchcv(groups=4, params=1_967_344),
    "shufflenet_v1_g8_050": _official(groups=8, width=0.5, params=1_010_448),
    "shufflenet_v1_g8_100": _official(groups=8, width=1.0, params=2_433_768),
    "shufflenet_v1_g8_150": _official(groups=8, width=1.5, params=4_268_952),
    "shufflenet_v1_g8_200": _official(groups=8, width=2.0, params=6_521_232),
}


class NormalOverFanIn(tf_keras.initializers.Initializer):
    """N(0, (1 / fan_in)^2) with fan_in the input channels per group (PyTorch's
    ``weight.shape[1]``), the official ShuffleNet code's conv init; 1 for a depthwise kernel."""

    def __init__(self, depthwise=False, seed=None):
        self.depthwise, self.seed = depthwise, seed

    def __call__(self, shape, dtype=None, **kwargs):
        fan_in = 1 if self.depthwise else shape[-2]
        return tf.random.normal(shape, stddev=1.0 / fan_in, dtype=dtype or tf.float32,
                                seed=self.seed)

    def get_config(self):
        return {"depthwise": self.depthwise, "seed": self.seed}


def _official_init(conv_norm):
    """Sets the official initializers on a ConvNormAct before it is built."""
    if isinstance(conv_norm.conv, tf_keras.layers.DepthwiseConv2D):
        conv_norm.conv.depthwise_initializer = NormalOverFanIn(depthwise=True)
    else:
        conv_norm.conv.kernel_initializer = NormalOverFanIn()
    conv_norm.bn.beta_initializer = tf_keras.initializers.Constant(1e-4)
    return conv_norm


class ShuffleV1Unit(tf_keras.layers.Layer):
    """The official ``ShuffleV1Block``: 1x1 (grouped unless ``group_first=False``)-BN-ReLU,
    depthwise 3x3-BN, channel shuffle, grouped 1x1-BN; then ReLU(x + input) at stride 1, or
    [avgpool 3x3/2 (input), ReLU(x)] at stride 2, which makes ``filters`` channels in all. The
    bottleneck has ``filters // 4`` channels."""

    def __init__(self, in_channels, filters, strides, groups, group_first=True, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.filters, self.strides = in_channels, filters, strides
        self.groups, self.group_first = groups, group_first
        mid = filters // 4
        out = filters - in_channels if strides > 1 else filters
        self.pw1 = _official_init(ConvNormAct(mid, 1, groups=groups if group_first else 1,
                                              name="pw1"))
        self.dw = _official_init(ConvNormAct(None, 3, strides, depthwise=True, act=None,
                                             name="dw"))
        self.shuffle = ChannelShuffle(groups, inverse=True, name="shuffle") if groups > 1 else None
        self.pw2 = _official_init(ConvNormAct(out, 1, groups=groups, act=None, name="pw2"))
        self.shortcut_pool = (tf_keras.layers.AveragePooling2D(3, 2, name="shortcut_pool")
                              if strides > 1 else None)

    def call(self, inputs, training=None):
        x = self.dw(self.pw1(inputs, training=training), training=training)
        if self.shuffle is not None:
            x = self.shuffle(x)
        x = self.pw2(x, training=training)
        if self.shortcut_pool is None:
            return tf.nn.relu(x + inputs)
        # PyTorch's AvgPool2d(3, 2, padding=1) counts the zero padding in every average.
        shortcut = self.shortcut_pool(tf.pad(inputs, [[0, 0], [1, 1], [1, 1], [0, 0]]))
        return tf.concat([shortcut, tf.nn.relu(x)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "in_channels": self.in_channels, "filters": self.filters,
                "strides": self.strides, "groups": self.groups, "group_first": self.group_first}


class ShuffleNetV1(ImageClassifier):
    """ShuffleNet v1 with ``groups`` groups in its 1x1 convs and width multiplier ``width``.

    Args:
      drop_rate: dropout before the classifier (none in the official code).
    """

    def __init__(self, groups=3, width=1.0, num_classes=1000, drop_rate=0.0, global_pool="avg",
                 features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        if (groups, width) not in _WIDTHS:
            raise ValueError(f"No ShuffleNet v1 with groups={groups}, width={width}; known: "
                             f"{sorted(_WIDTHS)}.")
        stem, *stages = _WIDTHS[(groups, width)]
        self.stem = ConvNormAct(stem, 3, 2, name="stem")
        self.stem.conv.kernel_initializer = tf_keras.initializers.RandomNormal(stddev=0.01)
        self.stem.bn.beta_initializer = tf_keras.initializers.Constant(1e-4)
        self.stem_pool = tf_keras.layers.MaxPooling2D(3, 2, padding="valid", name="stem_pool")
        self.stages, in_channels = [], stem
        for stage, (filters, count) in enumerate(zip(stages, _UNITS_PER_STAGE)):
            units = []
            for index in range(count):
                units.append(ShuffleV1Unit(in_channels, filters, 2 if index == 0 else 1, groups,
                                           group_first=stage > 0 or index > 0,
                                           name=f"stage{stage + 2}_unit{index + 1}"))
                in_channels = filters
            self.stages.append(units)
        self.num_features = stages[-1]
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, use_bias=False,
                                       name="head")
            if self.head.fc is not None:
                self.head.fc.kernel_initializer = tf_keras.initializers.RandomNormal(stddev=0.01)

    def forward_stages(self, x, training=None):
        x = self.stem(x, training=training)
        features = [x]  # stride 2
        # The official max-pool pads by 1; zeros equal -inf padding after the ReLU.
        x = self.stem_pool(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]))
        features.append(x)  # stride 4
        for stage in self.stages:
            for unit in stage:
                x = unit(x, training=training)
            features.append(x)  # strides 8, 16, 32
        return features


register_family("ShuffleNet v1", "Zhang et al., 2017", ShuffleNetV1, VARIANTS)
