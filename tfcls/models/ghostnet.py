"""GhostNet (Han et al., 2020, "GhostNet: More Features from Cheap Operations"), timm layout
(= the official PyTorch code): a 3x3 stride-2 stem, 16 Ghost bottlenecks in five stages (the
paper's Table 1), a 1x1 conv to the last expanded width, global pooling, a 1x1 conv with bias to
1280 + ReLU (our head's pre-logits layer), dropout 0.2 and the classifier.

Widths are ``make_divisible(c * width, 4)``; squeeze-excite reduces the expanded width to
``make_divisible(mid * 0.25, 4)`` with ReLU and a hard-sigmoid gate relu6(x + 3) / 6 (timm's
``_SE_LAYER``). The stem (16) and the final 1x1 conv (960) are scaled by ``width`` too, the
1280-wide pre-logits layer is not. PyTorch's default init (timm sets none), BN epsilon 1e-5.

A Ghost module makes ``ceil(out / ratio)`` "intrinsic" maps with an ordinary convolution and the
rest ("ghosts") from them with a cheap depthwise convolution; the two are concatenated and cut to
``out`` channels. The blocks take their widths (expanded, squeeze-excite) already rounded. Layout
and padding follow PyTorch (``k // 2`` on both sides), as the official code and timm do; batch norm
keeps PyTorch's epsilon 1e-5 and momentum 0.1 (keras' 0.9).
"""
import math

import tensorflow as tf
import tf_keras

from tfcls.layers import (ClassifierHead, ConvNormAct, DropPath, SqueezeExcite, make_divisible,
                          use_torch_default_init)
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import ImageClassifier

# Stages (paper Table 1 / timm's cfgs), rows of (kernel, expanded width, output width, SE ratio,
# stride). A stage is one output resolution: 112, 56, 28, 14 and 7 px at 224.
STAGES = (
    ((3, 16, 16, 0, 1),),
    ((3, 48, 24, 0, 2), (3, 72, 24, 0, 1)),
    ((5, 72, 40, 0.25, 2), (5, 120, 40, 0.25, 1)),
    ((3, 240, 80, 0, 2), (3, 200, 80, 0, 1), (3, 184, 80, 0, 1), (3, 184, 80, 0, 1),
     (3, 480, 112, 0.25, 1), (3, 672, 112, 0.25, 1)),
    ((5, 672, 160, 0.25, 2), (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0, 1),
     (5, 960, 160, 0.25, 1)),
)
STEM_WIDTH, PRE_LOGITS_WIDTH = 16, 1280
# arch: the width multiplier. Inputs: ImageNet mean/std (the default pretrained_cfg).
VARIANTS = {
    "ghostnet_050": Variant(params=2_587_292, reference="timm ghostnet_050", arch=dict(width=0.5)),
    "ghostnet_100": Variant(params=5_182_508, reference="timm ghostnet_100", arch=dict(width=1.0),
                            timm_twin="timm/ghostnet_100.in1k"),
    "ghostnet_130": Variant(params=7_358_820, reference="timm ghostnet_130", arch=dict(width=1.3)),
}


def _round(channels, width):
    return make_divisible(channels * width, 4)


# --- Ghost module and bottleneck (blocks of GhostNet only) ---------------------------------------
class GhostModule(tf_keras.layers.Layer):
    """Primary conv (``kernel_size``, ``strides``) -> BN -> [act] to ``ceil(filters / ratio)``
    channels, then the cheap operation: a ``dw_size`` depthwise conv (``ratio - 1`` outputs per
    channel) -> BN -> [act]; output = concat(primary, cheap)[..., :filters] (paper, Fig. 2c).

    Args:
      filters: output channels. ratio: the paper's ``s`` (2 in GhostNet).
      act: activation of both convs (None: linear, as in a bottleneck's second module).
    """

    def __init__(self, filters, ratio=2, kernel_size=1, dw_size=3, strides=1, act="relu",
                 norm_eps=1e-5, norm_momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        if ratio < 2:
            raise ValueError(f"A Ghost module needs ratio >= 2, got {ratio}.")
        self.filters, self.ratio, self.kernel_size = int(filters), int(ratio), kernel_size
        self.dw_size, self.strides, self.act = dw_size, strides, act
        self.norm_eps, self.norm_momentum = norm_eps, norm_momentum
        self.primary_width = math.ceil(self.filters / self.ratio)
        self.cheap_width = self.primary_width * (self.ratio - 1)
        norm = dict(act=act, norm_eps=norm_eps, norm_momentum=norm_momentum)
        self.primary = ConvNormAct(self.primary_width, kernel_size, strides, name="primary",
                                   **norm)
        # PyTorch's Conv2d(init, init * (ratio - 1), groups=init) is a depthwise conv with depth
        # multiplier ratio - 1, whose outputs keras orders as PyTorch does (channel-major).
        self.cheap = ConvNormAct(None, dw_size, 1, depthwise=True, name="cheap", **norm)
        self.cheap.conv.depth_multiplier = self.ratio - 1

    def call(self, x, training=None):
        primary = self.primary(x, training=training)
        ghosts = self.cheap(primary, training=training)
        out = tf.concat([primary, ghosts], axis=-1)
        if self.primary_width + self.cheap_width == self.filters:
            return out
        return out[..., :self.filters]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "ratio": self.ratio,
                "kernel_size": self.kernel_size, "dw_size": self.dw_size,
                "strides": self.strides, "act": self.act, "norm_eps": self.norm_eps,
                "norm_momentum": self.norm_momentum}


class GhostBottleneck(tf_keras.layers.Layer):
    """Ghost module (act) to ``mid_width`` -> [depthwise ``kernel_size`` conv, stride, -> BN when
    ``strides > 1``] -> [squeeze-excite to ``se_width``] -> Ghost module (linear) to
    ``out_width``, plus the shortcut: the input when the stride is 1 and the widths agree, else a
    depthwise ``kernel_size`` conv (stride) -> BN -> 1x1 conv -> BN (paper, Fig. 3; timm).

    ``drop_path_rate`` drops the residual branch of blocks with the identity shortcut (neither the
    paper nor timm has stochastic depth in GhostNet; off by default).
    """

    def __init__(self, in_width, mid_width, out_width, kernel_size=3, strides=1, se_width=0,
                 act="relu", se_act="relu", se_gate="hard_sigmoid", drop_path_rate=0.0,
                 norm_eps=1e-5, norm_momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        self.in_width, self.mid_width = int(in_width), int(mid_width)
        self.out_width = int(out_width)
        self.kernel_size, self.strides, self.se_width = kernel_size, int(strides), int(se_width)
        self.act, self.se_act, self.se_gate = act, se_act, se_gate
        self.drop_path_rate = float(drop_path_rate)
        self.norm_eps, self.norm_momentum = norm_eps, norm_momentum
        norm = dict(norm_eps=norm_eps, norm_momentum=norm_momentum)
        self.ghost1 = GhostModule(mid_width, act=act, name="ghost1", **norm)
        self.depthwise = (ConvNormAct(None, kernel_size, strides, depthwise=True, act=None,
                                      name="depthwise", **norm) if self.strides > 1 else None)
        self.se = (SqueezeExcite(self.se_width, act=se_act, gate=se_gate, name="se")
                   if self.se_width > 0 else None)
        self.ghost2 = GhostModule(out_width, act=None, name="ghost2", **norm)
        self.has_skip = self.strides == 1 and self.in_width == self.out_width
        if self.has_skip:
            self.shortcut = []
            self.drop_path = DropPath(drop_path_rate, name="drop_path")
        else:
            self.shortcut = [
                ConvNormAct(None, kernel_size, strides, depthwise=True, act=None,
                            name="shortcut_dw", **norm),
                ConvNormAct(out_width, 1, act=None, name="shortcut_pw", **norm)]
            self.drop_path = None

    def call(self, x, training=None):
        shortcut = x
        x = self.ghost1(x, training=training)
        if self.depthwise is not None:
            x = self.depthwise(x, training=training)
        if self.se is not None:
            x = self.se(x)
        x = self.ghost2(x, training=training)
        if self.has_skip:
            return self.drop_path(x, training=training) + shortcut
        for layer in self.shortcut:
            shortcut = layer(shortcut, training=training)
        return x + shortcut

    def get_config(self):
        return {**super().get_config(), "in_width": self.in_width, "mid_width": self.mid_width,
                "out_width": self.out_width, "kernel_size": self.kernel_size,
                "strides": self.strides, "se_width": self.se_width, "act": self.act,
                "se_act": self.se_act, "se_gate": self.se_gate,
                "drop_path_rate": self.drop_path_rate, "norm_eps": self.norm_eps,
                "norm_momentum": self.norm_momentum}


class GhostNet(ImageClassifier):
    """GhostNet with width multiplier ``width``.

    Args:
      drop_rate: dropout before the classifier (0.2, timm's and the official code's default).
      drop_path_rate: stochastic depth of the last block, ``rate * i / n`` over the 16 blocks,
        on blocks with an identity shortcut; 0 by default (the reference has none).
    """

    drop_path_rule = "index_over_count"

    def __init__(self, width=1.0, num_classes=1000, drop_rate=0.2, drop_path_rate=0.0,
                 global_pool="avg", features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        self.width = width
        in_width = _round(STEM_WIDTH, width)
        self.stem = ConvNormAct(in_width, 3, 2, name="stem")
        self.blocks = []
        for stage, rows in enumerate(STAGES):
            for index, (kernel, expanded, out, se_ratio, strides) in enumerate(rows):
                mid, out = _round(expanded, width), _round(out, width)
                se_width = make_divisible(mid * se_ratio, 4) if se_ratio else 0
                self.blocks.append(GhostBottleneck(
                    in_width, mid, out, kernel, strides, se_width=se_width,
                    name=f"stage{stage + 1}_block{index + 1}"))
                in_width = out
        self.apply_drop_path_rule(self.blocks, drop_path_rate)
        last_expanded = STAGES[-1][-1][1]
        self.num_features = _round(last_expanded, width)
        self.head_conv = ConvNormAct(self.num_features, 1, name="head_conv")
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, name="head",
                                       pre_logits_width=PRE_LOGITS_WIDTH, pre_logits_act="relu")
        use_torch_default_init(self)

    def forward_stages(self, x, training=None):
        x = self.stem(x, training=training)
        features = []
        for block in self.blocks:
            if block.strides > 1:
                features.append(x)  # the map at each stride, just before it is halved
            x = block(x, training=training)
        features.append(self.head_conv(x, training=training))  # stride 32
        return features

    def torch_weight_pairs(self, source="timm"):
        """(our layer, its timm twin's module name). timm groups the 16 blocks as its ``cfgs``
        rows do (``_TIMM_GROUPS``), then ``blocks.9`` is the 1x1 conv to 960, ``conv_head`` the
        pre-logits layer (a 1x1 conv on the pooled map: our Dense)."""
        pairs = [(self.stem, ("conv_stem", "bn1"))]
        names = [f"blocks.{group}.{index}" for group, size in enumerate(_TIMM_GROUPS)
                 for index in range(size)]
        for block, prefix in zip(self.blocks, names):
            pairs += _ghost_pairs(block.ghost1, f"{prefix}.ghost1")
            if block.depthwise is not None:
                pairs.append((block.depthwise, (f"{prefix}.conv_dw", f"{prefix}.bn_dw")))
            if block.se is not None:
                pairs += [(block.se.reduce, f"{prefix}.se.conv_reduce"),
                          (block.se.expand, f"{prefix}.se.conv_expand")]
            pairs += _ghost_pairs(block.ghost2, f"{prefix}.ghost2")
            for conv, at in zip(block.shortcut, (0, 2)):
                pairs.append((conv, (f"{prefix}.shortcut.{at}", f"{prefix}.shortcut.{at + 1}")))
        pairs.append((self.head_conv, (f"blocks.{len(_TIMM_GROUPS)}.0.conv",
                                       f"blocks.{len(_TIMM_GROUPS)}.0.bn1")))
        pre_logits = self.head.pre_logits if self.head is not None else None
        return pairs + [(pre_logits, "conv_head"), (self.classifier_layer, "classifier")]


# Blocks per row of timm's ``cfgs`` (its ``blocks.N`` groups), in our STAGES order.
_TIMM_GROUPS = (1, 1, 1, 1, 1, 1, 5, 1, 4)


def _ghost_pairs(module, prefix):
    return [(module.primary, (f"{prefix}.primary_conv.0", f"{prefix}.primary_conv.1")),
            (module.cheap, (f"{prefix}.cheap_operation.0", f"{prefix}.cheap_operation.1"))]


register_family("GhostNet", "Han et al., 2020", GhostNet, VARIANTS)
