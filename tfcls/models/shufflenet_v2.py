"""ShuffleNet v2 (Ma et al., 2018, "ShuffleNet V2: Practical Guidelines for Efficient CNN
Architecture Design"), torchvision layout: a 3x3 stride-2 stem and max-pool, three stages of units
that split the channels in two, transform one half (1x1, depthwise 3x3, 1x1) and shuffle the
concatenation with 2 groups; a 1x1 conv5, global average pooling and a linear classifier."""
import tensorflow as tf
import tf_keras

from tfcls.layers import ChannelShuffle, ClassifierHead, ConvNormAct, use_torch_default_init
from tfcls.models._registration import register_family, torchvision_variant
from tfcls.models.base import ImageClassifier

_UNITS_PER_STAGE = (4, 8, 4)
# width multiplier: (stem, stage 2, stage 3, stage 4, conv5) output channels (torchvision).
_WIDTHS = {
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 244, 488, 976, 2048),
}



_tv = torchvision_variant  # torchvision builder name, params, row fields
VARIANTS = {
    "shufflenet_v2_050": _tv("shufflenet_v2_x0_5", 1_366_792, arch=dict(width=0.5)),
    "shufflenet_v2_100": _tv("shufflenet_v2_x1_0", 2_278_604, arch=dict(width=1.0)),
    "shufflenet_v2_150": _tv("shufflenet_v2_x1_5", 3_503_624, arch=dict(width=1.5)),
    "shufflenet_v2_200": _tv("shufflenet_v2_x2_0", 7_393_996, arch=dict(width=2.0)),
}


class ShuffleV2Unit(tf_keras.layers.Layer):
    """torchvision's ``InvertedResidual``. Stride 1: the channels are split in halves, the second
    goes through the main branch (1x1-BN-ReLU, depthwise 3x3-BN, 1x1-BN-ReLU), the first is kept.
    Stride 2: both branches see the whole input, the first one as depthwise 3x3 (stride 2)-BN,
    1x1-BN-ReLU. The two halves are concatenated (kept/shortcut first), then shuffled (2 groups)."""

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        if filters % 2:
            raise ValueError(f"A ShuffleNet v2 unit needs an even width, got {filters}.")
        self.filters, self.strides = filters, strides
        half = filters // 2
        if strides > 1:
            self.shortcut = [
                ConvNormAct(None, 3, strides, depthwise=True, act=None, name="shortcut_dw"),
                ConvNormAct(half, 1, name="shortcut_pw")]
        else:
            self.shortcut = None
        self.main = [ConvNormAct(half, 1, name="main_pw1"),
                     ConvNormAct(None, 3, strides, depthwise=True, act=None, name="main_dw"),
                     ConvNormAct(half, 1, name="main_pw2")]
        self.shuffle = ChannelShuffle(2, name="shuffle")

    def call(self, x, training=None):
        if self.shortcut is None:
            kept, x = tf.split(x, 2, axis=-1)
        else:
            kept = x
            for layer in self.shortcut:
                kept = layer(kept, training=training)
        for layer in self.main:
            x = layer(x, training=training)
        return self.shuffle(tf.concat([kept, x], axis=-1))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


class ShuffleNetV2(ImageClassifier):
    """ShuffleNet v2 with width multiplier ``width`` (0.5, 1.0, 1.5 or 2.0).

    Args:
      drop_rate: dropout before the classifier (none in torchvision).
    """

    def __init__(self, width=1.0, num_classes=1000, drop_rate=0.0, global_pool="avg",
                 features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        if width not in _WIDTHS:
            raise ValueError(f"ShuffleNet v2 width must be one of {sorted(_WIDTHS)}, got {width}.")
        stem, *stages, conv5 = _WIDTHS[width]
        self.stem = ConvNormAct(stem, 3, 2, name="stem")
        self.stem_pool = tf_keras.layers.MaxPooling2D(3, 2, padding="valid", name="stem_pool")
        self.stages = [
            [ShuffleV2Unit(filters, 2 if index == 0 else 1, name=f"stage{stage}_unit{index + 1}")
             for index in range(count)]
            for stage, filters, count in zip((2, 3, 4), stages, _UNITS_PER_STAGE)]
        self.conv5 = ConvNormAct(conv5, 1, name="conv5")
        self.num_features = conv5
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, name="head")
        use_torch_default_init(self)

    def forward_stages(self, x, training=None):
        x = self.stem(x, training=training)
        features = [x]  # stride 2
        # torchvision's max-pool pads by 1; zeros equal -inf padding after the ReLU.
        x = self.stem_pool(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]))
        features.append(x)  # stride 4
        for stage in self.stages:
            for unit in stage:
                x = unit(x, training=training)
            features.append(x)  # strides 8, 16, 32 (the last after conv5)
        features[-1] = self.conv5(x, training=training)
        return features

    def torch_weight_pairs(self, source="torchvision"):
        """(our layer, its torchvision twin's module name): ``branch1`` is the stride-2 units'
        shortcut (dw conv, BN, 1x1, BN), ``branch2`` the main branch (1x1, BN, ReLU, dw, BN, 1x1,
        BN) as torch.nn.Sequential numbers them."""
        pairs = [(self.stem, ("conv1.0", "conv1.1"))]
        for stage_number, stage in zip((2, 3, 4), self.stages):
            for index, unit in enumerate(stage):
                prefix = f"stage{stage_number}.{index}"
                for conv, at in zip(unit.shortcut or [], (0, 2)):
                    pairs.append((conv, (f"{prefix}.branch1.{at}", f"{prefix}.branch1.{at + 1}")))
                for conv, at in zip(unit.main, (0, 3, 5)):
                    pairs.append((conv, (f"{prefix}.branch2.{at}", f"{prefix}.branch2.{at + 1}")))
        return pairs + [(self.conv5, ("conv5.0", "conv5.1")), (self.classifier_layer, "fc")]


register_family("ShuffleNet v2", "Ma et al., 2018", ShuffleNetV2, VARIANTS)
