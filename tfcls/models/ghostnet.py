"""GhostNet (Han et al., 2020, "GhostNet: More Features from Cheap Operations"), timm layout
(= the official PyTorch code): a 3x3 stride-2 stem, 16 Ghost bottlenecks in five stages (the
paper's Table 1), a 1x1 conv to the last expanded width, global pooling, a 1x1 conv with bias to
1280 + ReLU (our head's pre-logits layer), dropout 0.2 and the classifier.

Widths are ``make_divisible(c * width, 4)``; squeeze-excite reduces the expanded width to
``make_divisible(mid * 0.25, 4)`` with ReLU and a hard-sigmoid gate relu6(x + 3) / 6 (timm's
``_SE_LAYER``). The stem (16) and the final 1x1 conv (960) are scaled by ``width`` too, the
1280-wide pre-logits layer is not. PyTorch's default init (timm sets none), BN epsilon 1e-5.
"""
import functools

from tfcls.layers import (ClassifierHead, ConvNormAct, GhostBottleneck, make_divisible,
                          use_torch_default_init)
from tfcls.models._registration import TORCH_PREPROCESSING, registrar
from tfcls.models.base import ImageClassifier

register = registrar("GhostNet", "Han et al., 2020")

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
# name: (width multiplier, trainable parameters of timm's model with 1000 classes)
VARIANTS = {
    "ghostnet_050": (0.5, 2_587_292),
    "ghostnet_100": (1.0, 5_182_508),
    "ghostnet_130": (1.3, 7_358_820),
}


def _round(channels, width):
    return make_divisible(channels * width, 4)


class GhostNet(ImageClassifier):
    """GhostNet with width multiplier ``width``.

    Args:
      drop_rate: dropout before the classifier (0.2, timm's and the official code's default).
      drop_path_rate: stochastic depth of the last block, ``rate * i / n`` over the 16 blocks,
        on blocks with an identity shortcut; 0 by default (the reference has none).
    """

    def __init__(self, width=1.0, num_classes=1000, drop_rate=0.2, drop_path_rate=0.0,
                 global_pool="avg", features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        self.pretrained_cfg.update(TORCH_PREPROCESSING)
        self.width = width
        in_width = _round(STEM_WIDTH, width)
        self.stem = ConvNormAct(in_width, 3, 2, name="stem")
        total = sum(len(stage) for stage in STAGES)
        self.blocks = []
        for stage, rows in enumerate(STAGES):
            for index, (kernel, expanded, out, se_ratio, strides) in enumerate(rows):
                mid, out = _round(expanded, width), _round(out, width)
                se_width = make_divisible(mid * se_ratio, 4) if se_ratio else 0
                self.blocks.append(GhostBottleneck(
                    in_width, mid, out, kernel, strides, se_width=se_width,
                    drop_path_rate=drop_path_rate * len(self.blocks) / total,
                    name=f"stage{stage + 1}_block{index + 1}"))
                in_width = out
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


for _name, (_width, _params) in VARIANTS.items():
    register.variant(_name, functools.partial(GhostNet, width=_width), params=_params,
                     reference=f"timm {_name}", resolution=224)
