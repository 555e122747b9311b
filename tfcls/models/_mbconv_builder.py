"""One builder for the depthwise-separable / inverted-residual line (MobileNet v1-v3,
EfficientNet, EfficientNetV2): a network is a stem conv, stages of blocks given as data rows, an
optional 1x1 head conv, and a classifier head.

A stage row is a string decoded at import time (a typo fails when the family module loads)::

    "ir r2 k3 s2 e6 c24 se0.25 swish"

block type (``ds`` depthwise-separable, ``ir`` inverted residual / MBConv, ``fused`` fused MBConv),
repeats, kernel, stride (of the stage's first block), expansion (``e88/24`` allowed), output width,
optional squeeze-excite ratio and activation (default: the network's). The builder owns depth
scaling (ceil(depth_mult * repeats)), width rounding, strides, drop path (the "index_over_count"
rule, ``rate * i / n`` over all blocks, as EfficientNet's reference and timm), the feature taps,
the names (``stage3_block2/expand/conv/kernel``) and each block's position (``named_blocks``).
"""
import dataclasses
import math
import re

import tf_keras

from tfcls.layers import (ClassifierHead, ConvNormAct, DepthwiseSeparableConv, FusedMBConv,
                          InvertedResidual, make_divisible)
from tfcls.layers.activations import _ACTIVATIONS
from tfcls.models.base import ImageClassifier

BLOCKS = {"ds": DepthwiseSeparableConv, "ir": InvertedResidual, "fused": FusedMBConv}
WIDTH_ROUNDING = ("int", "int_divisible", "divisible", "divisible_no_limit")
_FIELDS = {"r": "repeats", "k": "kernel", "s": "stride", "e": "expansion", "c": "width",
           "se": "se_ratio"}
_TOKEN = re.compile(r"^(se|r|k|s|e|c)(\d+(?:\.\d+)?)(?:/(\d+))?$")


@dataclasses.dataclass(frozen=True)
class StageRow:
    """One stage: ``repeats`` blocks of type ``block``; the first one has ``stride``."""
    block: str
    repeats: int
    kernel: int
    stride: int
    expansion: float
    width: int
    se_ratio: float = 0.0
    act: str = None


def decode_stage(text):
    """Parses one stage row string (see the module docstring); raises ValueError on a typo."""
    block, *tokens = text.split()
    if block not in BLOCKS:
        raise ValueError(f"Stage {text!r}: unknown block {block!r}; use one of {sorted(BLOCKS)}.")
    values = {"block": block}
    for token in tokens:
        match = _TOKEN.match(token)
        if match:
            key, number, denominator = match.groups()
            value = float(number) / float(denominator) if denominator else float(number)
            if key in ("r", "k", "s", "c"):
                value = int(value)
            values[_FIELDS[key]] = value
        elif token in _ACTIVATIONS:
            values["act"] = token
        else:
            raise ValueError(f"Stage {text!r}: cannot read {token!r}.")
    missing = {"repeats", "kernel", "stride", "expansion", "width"} - set(values)
    if missing:
        raise ValueError(f"Stage {text!r} lacks {sorted(missing)}.")
    return StageRow(**values)


def decode_stages(*rows):
    return tuple(decode_stage(row) for row in rows)


def round_width(width, multiplier, rounding):
    """Scaled channel count: ``int`` (MobileNet v1), ``int_divisible`` (MobileNet v2: int first,
    then make_divisible), ``divisible`` (MobileNet v3, EfficientNet), ``divisible_no_limit``
    (EfficientNetV2: no step up after rounding down)."""
    if rounding == "int":
        return int(width * multiplier)
    if rounding == "int_divisible":
        return make_divisible(int(width * multiplier))
    if rounding == "divisible":
        return make_divisible(width * multiplier)
    if rounding == "divisible_no_limit":
        return make_divisible(width * multiplier, round_limit=0.0)
    raise ValueError(f"width rounding must be one of {WIDTH_ROUNDING}, got {rounding!r}.")


class MBConvNet(ImageClassifier):
    """Stem -> stages of depthwise-separable / MBConv / fused-MBConv blocks -> [1x1 head conv]
    -> ClassifierHead. Family subclasses set the class attributes below and map keras names.

    Args:
      stages: decoded stage rows. width_mult, depth_mult: scaling of widths and repeats.
      act: default activation. stem_width, head_width: before rounding (head_width None: no head
        conv). head_expansion: instead of head_width, the head conv is this many times the last
        block's width (MobileNetV3: 6). drop_rate: dropout before the classifier.
        drop_path_rate: of the last block.
    """

    width_rounding = "divisible"
    norm_eps, norm_momentum = 1e-3, 0.99
    se_from = "input"  # "input": max(1, int(block input * ratio)); "expanded": make_divisible
    se_act, se_gate = None, "sigmoid"  # se_act None: the block's activation
    conv_init = None  # None: keras' default (Glorot uniform)
    stride2_padding = "same"
    residual = True
    drop_path_rule = "index_over_count"

    def __init__(self, stages, width_mult=1.0, depth_mult=1.0, act="relu", stem_width=32,
                 head_width=None, head_expansion=None, num_classes=1000, drop_rate=0.0,
                 drop_path_rate=0.0, global_pool="avg", features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        self.width_mult, self.depth_mult, self.act = width_mult, depth_mult, act
        stem = self.stem_width(stem_width)
        self.stem = self._conv(stem, 3, 2, act, "stem")
        self.blocks, self.block_positions, last = self._make_blocks(stages, stem)
        self.apply_drop_path_rule(self.blocks, drop_path_rate)
        if head_expansion:
            head_width = make_divisible(last * head_expansion)
        else:
            head_width = self.head_width(head_width)
        self.head_conv = self._conv(head_width, 1, 1, act, "head_conv") if head_width else None
        self.num_features = head_width or last
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, name="head",
                                       **self.head_kwargs())

    def round(self, width):
        return round_width(width, self.width_mult, self.width_rounding)

    def stem_width(self, stem_width):
        """Width of the stem conv; families may override."""
        return self.round(stem_width)

    def head_width(self, head_width):
        """Width of the 1x1 conv after the blocks (None: none); families may override."""
        return self.round(head_width) if head_width else None

    def head_kwargs(self):
        return {}

    def _conv(self, filters, kernel_size, strides, act, name):
        layer = ConvNormAct(filters, kernel_size, strides, padding="same", act=act,
                            norm_eps=self.norm_eps, norm_momentum=self.norm_momentum, name=name)
        if self.conv_init is not None:
            layer.conv.kernel_initializer = tf_keras.initializers.get(self.conv_init)
        return layer

    def _make_blocks(self, stages, in_width):
        """The blocks, their (stage, index in stage) positions from 0, and the last width."""
        blocks, positions = [], []
        for stage, row in enumerate(stages):
            out_width = self.round(row.width)
            for j in range(int(math.ceil(self.depth_mult * row.repeats))):
                blocks.append(self._make_block(row, in_width, out_width,
                                               row.stride if j == 0 else 1,
                                               f"stage{stage + 1}_block{j + 1}"))
                positions.append((stage, j))
                in_width = out_width
        return blocks, tuple(positions), in_width

    def _make_block(self, row, in_width, out_width, strides, name):
        act = row.act or self.act
        expanded = None if row.expansion == 1 else make_divisible(in_width * row.expansion)
        se_width = 0
        if row.se_ratio:
            se_width = (max(1, int(in_width * row.se_ratio)) if self.se_from == "input" else
                        make_divisible((expanded or in_width) * row.se_ratio))
        common = dict(strides=strides, se_width=se_width, act=act, se_act=self.se_act or act,
                      se_gate=self.se_gate, residual=self.residual, norm_eps=self.norm_eps,
                      norm_momentum=self.norm_momentum, conv_init=self.conv_init, name=name)
        if row.block == "ds":
            return DepthwiseSeparableConv(in_width, out_width, row.kernel,
                                          stride2_padding=self.stride2_padding, **common)
        return BLOCKS[row.block](in_width, out_width, expanded, row.kernel, **common)

    def forward_stages(self, x, training=None):
        x = self.stem(x, training=training)
        features = []
        for block in self.blocks:
            if block.strides > 1:
                features.append(x)  # the map at each stride, just before it is halved
            x = block(x, training=training)
        if self.head_conv is not None:
            x = self.head_conv(x, training=training)
        features.append(x)
        return features

    def timm_block_pairs(self, groups=None):
        """(our layer, torch name) of the stem and blocks in timm's EfficientNet-builder naming
        (``blocks.{group}.{index}``; ``groups``: blocks per timm group, default our stages): with
        expansion ``conv_pw``/``bn1``, ``conv_dw``/``bn2``, ``se``, ``conv_pwl``/``bn3``; without,
        ``conv_dw``/``bn1``, ``se``, ``conv_pw``/``bn2``. Families add their head."""
        pairs = [(self.stem, ("conv_stem", "bn1"))]
        names = ([f"blocks.{g}.{i}" for g, size in enumerate(groups) for i in range(size)]
                 if groups else [f"blocks.{stage}.{index}" for stage, index, _, _ in
                                 self.named_blocks()])
        if len(names) != len(self.blocks):
            raise ValueError(f"{self.name}: timm groups {groups} do not cover our blocks.")
        for prefix, block in zip(names, self.blocks):
            if not hasattr(block, "depthwise"):
                raise ValueError(f"{self.name}: no timm mapping for {type(block).__name__} blocks.")
            names = [("conv_pw", "bn1"), ("conv_dw", "bn2"), ("conv_pwl", "bn3")]
            if getattr(block, "expand", None) is not None:
                pairs.append((block.expand, tuple(f"{prefix}.{n}" for n in names.pop(0))))
            else:
                names = [("conv_dw", "bn1"), ("conv_pw", "bn2")]
            pairs.append((block.depthwise, tuple(f"{prefix}.{n}" for n in names[0])))
            if block.se is not None:
                pairs += [(block.se.reduce, f"{prefix}.se.conv_reduce"),
                          (block.se.expand, f"{prefix}.se.conv_expand")]
            pairs.append((block.project, tuple(f"{prefix}.{n}" for n in names[1])))
        return pairs

    def named_blocks(self):
        """(stage index, index in stage, global index, block), all from 0, as built."""
        return [(stage, index, number, block) for number, ((stage, index), block)
                in enumerate(zip(self.block_positions, self.blocks))]


def conv_pairs(ours, conv_name, bn_name):
    """(our layer, keras layer name) pairs of a ConvNormAct."""
    return [(ours.conv, conv_name), (ours.bn, bn_name)]


def conv_to_dense(values):
    """A keras 1x1 conv classifier's [kernel (1, 1, C, K), bias] as a Dense's."""
    kernel, *bias = values
    return [kernel.reshape(kernel.shape[-2:]), *bias]
