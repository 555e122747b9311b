"""Xception (Chollet, 2017, "Xception: Deep Learning with Depthwise Separable Convolutions").

The layout of tf_keras.applications.Xception (= timm's legacy_xception), whose weights port one to
one: a two-conv stem, three strided entry blocks, eight middle blocks of three separable
convolutions, a strided exit block and two final separable convolutions. Batch norm keeps keras'
defaults (momentum 0.99, epsilon 1e-3); every strided step pads "same".
"""
import tf_keras

from tfcls.layers import ClassifierHead, ConvNormAct, DropPath, SeparableConvNormAct
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import TF_PREPROCESSING, ImageClassifier

# Residual blocks, keras' block2 ... block13: (separable widths, strided with a 1x1 shortcut).
_BLOCKS = (
    ((128, 128), True), ((256, 256), True), ((728, 728), True),  # entry flow
    *[((728, 728, 728), False)] * 8,  # middle flow
    ((728, 1024), True),  # exit flow
)
_EXIT_WIDTHS = (1536, 2048)
_NORM = dict(norm_eps=1e-3, norm_momentum=0.99)  # keras' BatchNormalization defaults
VARIANTS = {"xception": Variant(params=22_855_952, resolution=299, keras_twin="Xception",
                                reference="tf_keras.applications.Xception (= timm legacy_xception)",
                                keras_preprocessing=TF_PREPROCESSING)}


class XceptionBlock(tf_keras.layers.Layer):
    """ReLU -> separable conv -> BN, repeated; then a 3x3 stride-2 max-pool and a 1x1 stride-2
    conv-BN shortcut when ``strided``, else an identity shortcut. ``first_act=False`` drops the
    first ReLU (the entry block right after the stem's activation)."""

    def __init__(self, widths, strided, first_act=True, drop_path_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.widths, self.strided, self.first_act = tuple(widths), strided, first_act
        self.drop_path_rate = float(drop_path_rate)
        self.convs = [SeparableConvNormAct(width, 3, act="relu" if first_act or i else None,
                                           act_first=True, name=f"sepconv{i + 1}", **_NORM)
                      for i, width in enumerate(self.widths)]
        self.pool = (tf_keras.layers.MaxPooling2D(3, 2, padding="same", name="pool")
                     if strided else None)
        self.shortcut = (ConvNormAct(self.widths[-1], 1, 2, padding="same", act=None,
                                     name="shortcut", **_NORM) if strided else None)
        self.drop_path = DropPath(self.drop_path_rate, name="drop_path")

    def call(self, x, training=None):
        shortcut = x if self.shortcut is None else self.shortcut(x, training=training)
        for conv in self.convs:
            x = conv(x, training=training)
        if self.pool is not None:
            x = self.pool(x)
        return shortcut + self.drop_path(x, training=training)

    def get_config(self):
        return {**super().get_config(), "widths": self.widths, "strided": self.strided,
                "first_act": self.first_act, "drop_path_rate": self.drop_path_rate}


class Xception(ImageClassifier):
    """Xception: stem, 12 residual blocks of separable convolutions (drop path on their
    residual branch, rates linear in depth up to ``drop_path_rate``), exit convolutions, then
    global average pooling, dropout (``drop_rate``) and the classifier."""

    drop_path_rule = "linear"

    def __init__(self, num_classes=1000, drop_rate=0.0, drop_path_rate=0.0, global_pool="avg",
                 features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        self.stem = [ConvNormAct(32, 3, 2, padding="valid", name="stem_conv1", **_NORM),
                     ConvNormAct(64, 3, 1, padding="valid", name="stem_conv2", **_NORM)]
        self.blocks = [XceptionBlock(widths, strided, first_act=index > 0,
                                     name=f"block{index + 2}")
                       for index, (widths, strided) in enumerate(_BLOCKS)]
        self.apply_drop_path_rule(self.blocks, drop_path_rate)
        self.exit_convs = [SeparableConvNormAct(width, 3, name=f"exit_sepconv{i + 1}", **_NORM)
                           for i, width in enumerate(_EXIT_WIDTHS)]
        self.num_features = _EXIT_WIDTHS[-1]
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, name="head")

    def forward_stages(self, x, training=None):
        for conv in self.stem:
            x = conv(x, training=training)
        features = []
        for block in self.blocks:
            if block.strided:
                features.append(x)  # the map at each stride, just before it is halved
            x = block(x, training=training)
        for conv in self.exit_convs:
            x = conv(x, training=training)
        return features + [x]

    def keras_weight_pairs(self):
        """(our layer, its tf_keras.applications.Xception twin's layer name or finder)."""
        pairs = []
        for index, conv in enumerate(self.stem):
            name = f"block1_conv{index + 1}"
            pairs += [(conv.conv, name), (conv.bn, f"{name}_bn")]
        for block in self.blocks:
            for index, conv in enumerate(block.convs):
                pairs += [(conv.conv, f"{block.name}_sepconv{index + 1}"),
                          (conv.bn, f"{block.name}_sepconv{index + 1}_bn")]
            if block.shortcut is not None:  # keras leaves the shortcut layers unnamed
                width = block.widths[-1]
                pairs += [(block.shortcut.conv, lambda m, w=width: _keras_shortcut(m, w)),
                          (block.shortcut.bn, lambda m, w=width: _keras_shortcut(m, w, bn=True))]
        for index, conv in enumerate(self.exit_convs):
            pairs += [(conv.conv, f"block14_sepconv{index + 1}"),
                      (conv.bn, f"block14_sepconv{index + 1}_bn")]
        return pairs


def _keras_shortcut(keras_model, width, bn=False):
    """keras Xception's unnamed 1x1 shortcut conv of ``width`` filters (widths are unique), or
    the batch norm that follows it."""
    for layer in keras_model.layers:
        if (type(layer) is tf_keras.layers.Conv2D and layer.kernel_size == (1, 1)
                and layer.filters == width):
            return layer.outbound_nodes[0].outbound_layer if bn else layer
    return None


register_family("Xception", "Chollet, 2017, Xception: Deep Learning with Depthwise Separable "
                            "Convolutions", Xception, VARIANTS)
