"""ConvMixer (Trockman & Kolter, 2022, "Patches Are All You Need?"), timm's layout.

A patch embedding (a ``patch`` x ``patch`` stride-``patch`` conv -> act -> BN), then ``depth``
isotropic blocks: a residual depthwise ``kernel`` x ``kernel`` "same" conv -> act -> BN, then a
pointwise conv -> act -> BN; global average pooling and a linear classifier. Every conv has a
bias, BN epsilon 1e-5, PyTorch's default (uniform, fan-in) initialization as timm keeps it.
Importing timm's weights is a rename plus transposes (depthwise (C, 1, k, k) -> (k, k, C, 1)).
"""
import tf_keras

from tfcls.layers import ClassifierHead, FastDepthwiseConv2D, get_activation, torch_default_init
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import ImageClassifier

VARIANTS = {
    "convmixer_1536_20": Variant(
        params=51_625_960, reference="timm convmixer_1536_20 (kernel 9, patch 7)",
        arch=dict(width=1536, depth=20, kernel_size=9, patch_size=7, act="gelu"),
        timm_twin="timm/convmixer_1536_20.in1k"),
    "convmixer_768_32": Variant(
        params=21_110_248, reference="timm convmixer_768_32 (kernel 7, patch 7, ReLU)",
        arch=dict(width=768, depth=32, kernel_size=7, patch_size=7, act="relu"),
        timm_twin="timm/convmixer_768_32.in1k"),
    "convmixer_1024_20": Variant(
        params=24_383_464, reference="timm convmixer_1024_20_ks9_p14 (kernel 9, patch 14)",
        arch=dict(width=1024, depth=20, kernel_size=9, patch_size=14, act="gelu"),
        timm_twin="timm/convmixer_1024_20_ks9_p14.in1k"),
}


def _norm(name):
    return tf_keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=name)


class ConvMixerBlock(tf_keras.layers.Layer):
    """x + BN(act(depthwise_conv(x))), then BN(act(pointwise_conv(.)))."""

    def __init__(self, width, kernel_size, act="gelu", **kwargs):
        super().__init__(**kwargs)
        self.width, self.kernel_size, self.act = width, kernel_size, act
        dw_init = torch_default_init(kernel_size * kernel_size, depthwise=True)
        self.dwconv = FastDepthwiseConv2D(
            kernel_size, padding="same", depthwise_initializer=dw_init["kernel_initializer"],
            bias_initializer=dw_init["bias_initializer"], name="dwconv")
        self.dw_norm = _norm("dw_norm")
        self.pwconv = tf_keras.layers.Conv2D(width, 1, name="pwconv", **torch_default_init(width))
        self.pw_norm = _norm("pw_norm")
        self.act_fn = get_activation(act)

    def call(self, x, training=None):
        x = x + self.dw_norm(self.act_fn(self.dwconv(x)), training=training)
        return self.pw_norm(self.act_fn(self.pwconv(x)), training=training)

    def get_config(self):
        return {**super().get_config(), "width": self.width, "kernel_size": self.kernel_size,
                "act": self.act}


class ConvMixer(ImageClassifier):
    """ConvMixer-``width``/``depth`` with ``kernel_size`` depthwise convs on ``patch_size``
    patches. One resolution throughout, so ``features_only`` gives the patch-embedding map and
    the last block's, both at stride ``patch_size``.

    Args:
      act: "gelu" (timm's default) or "relu" (ConvMixer-768/32).
      drop_rate: dropout before the classifier.
    """

    def __init__(self, width, depth, kernel_size=9, patch_size=7, act="gelu", num_classes=1000,
                 drop_rate=0.0, global_pool="avg", features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        self.patch_size = patch_size
        self.stem_conv = tf_keras.layers.Conv2D(width, patch_size, patch_size, name="stem_conv",
                                                **torch_default_init(3 * patch_size ** 2))
        self.stem_act = get_activation(act)
        self.stem_norm = _norm("stem_norm")
        self.blocks = [ConvMixerBlock(width, kernel_size, act, name=f"block{index + 1}")
                       for index in range(depth)]
        self.num_features = width
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, name="head")
            if self.head.fc is not None:
                self.head.fc.kernel_initializer = torch_default_init(width)["kernel_initializer"]
                self.head.fc.bias_initializer = torch_default_init(width)["bias_initializer"]

    def forward_stages(self, x, training=None):
        x = self.stem_norm(self.stem_act(self.stem_conv(x)), training=training)
        features = [x]
        for block in self.blocks:
            x = block(x, training=training)
        features.append(x)
        return features

    def torch_weight_pairs(self, source="timm"):
        """(our layer, its timm twin's module name): ``stem`` = (conv, act, BN); a block is
        ``(Residual(dw conv, act, BN), pw conv, act, BN)``; the classifier is ``head``."""
        pairs = [(self.stem_conv, "stem.0"), (self.stem_norm, "stem.2")]
        for index, block in enumerate(self.blocks):
            prefix = f"blocks.{index}"
            pairs += [(block.dwconv, f"{prefix}.0.fn.0"), (block.dw_norm, f"{prefix}.0.fn.2"),
                      (block.pwconv, f"{prefix}.1"), (block.pw_norm, f"{prefix}.3")]
        return pairs + [(self.classifier_layer, "head")]


register_family("ConvMixer", "Trockman & Kolter, 2022", ConvMixer, VARIANTS)
