"""MobileNet v3 Small/Large (Howard et al., 2019, "Searching for MobileNetV3"), laid out as
tf_keras.applications.MobileNetV3Small/Large, whose weights port one to one.

Widths make_divisible(c * alpha), expanded widths make_divisible(c_in * e), squeeze-excite from
the expanded width (make_divisible(c_exp / 4), ReLU, hard-sigmoid gate); the 16-wide stem is not
scaled. Head: 1x1 conv to 6x the last width -> pool -> 1x1 conv with bias (our head's pre-logits
layer) + activation -> dropout -> classifier. "Minimalistic" variants: 3x3 kernels, ReLU, no SE.
keras rescales to [-1, 1] inside the model; tfcls records that as mean/std 0.5 instead.
"""
from tfcls.layers import make_divisible
from tfcls.models._mbconv_builder import MBConvNet, conv_pairs, conv_to_dense, decode_stages
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import TF_PREPROCESSING


def _large(k, se):
    return decode_stages(
        "ir r1 k3 s1 e1 c16 relu",
        "ir r1 k3 s2 e4 c24 relu",
        "ir r1 k3 s1 e3 c24 relu",
        f"ir r3 k{k} s2 e3 c40 {se} relu",
        "ir r1 k3 s2 e6 c80",
        "ir r1 k3 s1 e2.5 c80",
        "ir r2 k3 s1 e2.3 c80",
        f"ir r2 k3 s1 e6 c112 {se}",
        f"ir r3 k{k} s2 e6 c160 {se}",
    )


def _small(k, se):
    return decode_stages(
        f"ir r1 k3 s2 e1 c16 {se} relu",
        "ir r1 k3 s2 e72/16 c24 relu",
        "ir r1 k3 s1 e88/24 c24 relu",
        f"ir r1 k{k} s2 e4 c40 {se}",
        f"ir r2 k{k} s1 e6 c40 {se}",
        f"ir r2 k{k} s1 e3 c48 {se}",
        f"ir r3 k{k} s2 e6 c96 {se}",
    )


# (size, minimalistic) -> (stage rows, default activation, pre-logits width)
ARCHS = {
    ("large", False): (_large(5, "se0.25"), "hard_swish", 1280),
    ("large", True): (_large(3, ""), "relu", 1280),
    ("small", False): (_small(5, "se0.25"), "hard_swish", 1024),
    ("small", True): (_small(3, ""), "relu", 1024),
}


def _twin(size, alpha, minimalistic, params, timm_name):
    """A row whose weights come from keras' MobileNetV3Small/Large(alpha, minimalistic) or timm's
    TF port of them (``tf_mobilenetv3_<timm_name>.in1k``, the same layout)."""
    return Variant(params=params, arch=dict(size=size, alpha=alpha, minimalistic=minimalistic),
                   pretrained_cfg=TF_PREPROCESSING, keras_twin=f"MobileNetV3{size.capitalize()}",
                   keras_kwargs={"alpha": alpha, "minimalistic": minimalistic},
                   keras_preprocessing=TF_PREPROCESSING,
                   timm_twin=f"timm/tf_mobilenetv3_{timm_name}.in1k")


VARIANTS = {
    "mobilenet_v3_small_100": _twin("small", 1.0, False, 2_542_856, "small_100"),
    "mobilenet_v3_small_075": _twin("small", 0.75, False, 2_041_872, "small_075"),
    "mobilenet_v3_small_minimal_100": _twin("small", 1.0, True, 2_044_736, "small_minimal_100"),
    "mobilenet_v3_large_100": _twin("large", 1.0, False, 5_483_032, "large_100"),
    "mobilenet_v3_large_075": _twin("large", 0.75, False, 3_993_528, "large_075"),
    "mobilenet_v3_large_minimal_100": _twin("large", 1.0, True, 3_924_288, "large_minimal_100"),
}


class MobileNetV3(MBConvNet):
    """MobileNet v3 ``size`` ("small"/"large") with width multiplier ``alpha``."""

    norm_momentum = 0.999
    se_from, se_act, se_gate = "expanded", "relu", "hard_sigmoid"

    def __init__(self, size="large", alpha=1.0, minimalistic=False, drop_rate=0.2, **kwargs):
        stages, act, self._pre_logits_width = ARCHS[(size, minimalistic)]
        if alpha > 1.0:
            self._pre_logits_width = make_divisible(self._pre_logits_width * alpha)
        super().__init__(stages, width_mult=alpha, act=act, stem_width=16, head_expansion=6,
                         drop_rate=drop_rate, **kwargs)

    def stem_width(self, stem_width):
        return stem_width  # not scaled by alpha

    def head_kwargs(self):
        return {"pre_logits_width": self._pre_logits_width, "pre_logits_act": self.act}

    def keras_weight_pairs(self):
        pairs = conv_pairs(self.stem, "Conv", "Conv/BatchNorm")
        for _, _, number, block in self.named_blocks():
            prefix = f"expanded_conv_{number}/" if number else "expanded_conv/"
            if block.expand is not None:
                pairs += conv_pairs(block.expand, prefix + "expand", prefix + "expand/BatchNorm")
            pairs += conv_pairs(block.depthwise, prefix + "depthwise",
                                prefix + "depthwise/BatchNorm")
            if block.se is not None:
                pairs += [(block.se.reduce, prefix + "squeeze_excite/Conv"),
                          (block.se.expand, prefix + "squeeze_excite/Conv_1")]
            pairs += conv_pairs(block.project, prefix + "project", prefix + "project/BatchNorm")
        pairs += conv_pairs(self.head_conv, "Conv_1", "Conv_1/BatchNorm")
        if self.head is not None:
            pairs.append((self.head.pre_logits, "Conv_2", conv_to_dense))
            if self.head.fc is not None:
                pairs.append((self.head.fc, "Logits", conv_to_dense))
        return pairs

    def torch_weight_pairs(self, source="timm"):
        """(our layer, its timm ``tf_mobilenetv3_*`` twin's module name): the blocks as timm's
        EfficientNet builder names them, then the 1x1 conv to 6x width as one more stage
        (``blocks.N.0.conv``/``bn1``), the pre-logits 1x1 conv ``conv_head`` and ``classifier``."""
        groups = _TIMM_GROUPS[len(self.blocks)]
        last_stage = len(groups)
        pre_logits = self.head.pre_logits if self.head is not None else None
        return self.timm_block_pairs(groups) + [
            (self.head_conv, (f"blocks.{last_stage}.0.conv", f"blocks.{last_stage}.0.bn1")),
            (pre_logits, "conv_head"), (self.classifier_layer, "classifier")]


# timm's grouping of the blocks (its arch_def rows), by block count: small (11), large (15).
_TIMM_GROUPS = {11: (1, 2, 3, 2, 3), 15: (1, 2, 3, 4, 2, 3)}


register_family("MobileNetV3", "Howard et al., 2019", MobileNetV3, VARIANTS)
