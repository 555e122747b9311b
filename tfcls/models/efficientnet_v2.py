"""EfficientNetV2 B0-B3, S, M, L (Tan & Le, 2021, "EfficientNetV2: Smaller Models and Faster
Training"), laid out as tf_keras.applications.EfficientNetV2* (include_preprocessing=False), whose
weights port one to one.

Fused-MBConv early stages, MBConv with squeeze-excite (from the block input width) later; swish;
widths make_divisible(c * width) without EfficientNet's step up; BN epsilon 1e-3, momentum 0.9.
The ImageNet weights expect torch-style mean/std (B0-B3) or [-1, 1] with 128 as zero (S, M, L).
"""
from tfcls.layers import FAN_OUT_INIT
from tfcls.models._mbconv_builder import MBConvNet, conv_pairs, decode_stages
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import TORCH_PREPROCESSING

# stem width, stage rows (before width/depth scaling)
ARCHS = {
    "b": (32, decode_stages(
        "fused r1 k3 s1 e1 c16",
        "fused r2 k3 s2 e4 c32",
        "fused r2 k3 s2 e4 c48",
        "ir r3 k3 s2 e4 c96 se0.25",
        "ir r5 k3 s1 e6 c112 se0.25",
        "ir r8 k3 s2 e6 c192 se0.25")),
    "s": (24, decode_stages(
        "fused r2 k3 s1 e1 c24",
        "fused r4 k3 s2 e4 c48",
        "fused r4 k3 s2 e4 c64",
        "ir r6 k3 s2 e4 c128 se0.25",
        "ir r9 k3 s1 e6 c160 se0.25",
        "ir r15 k3 s2 e6 c256 se0.25")),
    "m": (24, decode_stages(
        "fused r3 k3 s1 e1 c24",
        "fused r5 k3 s2 e4 c48",
        "fused r5 k3 s2 e4 c80",
        "ir r7 k3 s2 e4 c160 se0.25",
        "ir r14 k3 s1 e6 c176 se0.25",
        "ir r18 k3 s2 e6 c304 se0.25",
        "ir r5 k3 s1 e6 c512 se0.25")),
    "l": (32, decode_stages(
        "fused r4 k3 s1 e1 c32",
        "fused r7 k3 s2 e4 c64",
        "fused r7 k3 s2 e4 c96",
        "ir r10 k3 s2 e4 c192 se0.25",
        "ir r19 k3 s1 e6 c224 se0.25",
        "ir r25 k3 s2 e6 c384 se0.25",
        "ir r7 k3 s1 e6 c640 se0.25")),
}
MINUS_ONE_TO_ONE = {"mean": (128 / 255,) * 3, "std": (128 / 255,) * 3, "channel_order": "RGB"}


def _keras_twin(keras_twin, params, resolution, arch, width=1.0, depth=1.0):
    """A row whose input is the keras weights': torch-style mean/std (B0-B3) or [-1, 1]."""
    preprocessing = TORCH_PREPROCESSING if arch == "b" else MINUS_ONE_TO_ONE
    return Variant(params=params, arch=dict(arch=arch, width=width, depth=depth),
                   resolution=resolution, pretrained_cfg=preprocessing, keras_twin=keras_twin,
                   keras_kwargs={"include_preprocessing": False},
                   keras_preprocessing=preprocessing)


VARIANTS = {
    "efficientnet_v2_b0": _keras_twin("EfficientNetV2B0", 7_139_704, 224, "b"),
    "efficientnet_v2_b1": _keras_twin("EfficientNetV2B1", 8_141_052, 240, "b", depth=1.1),
    "efficientnet_v2_b2": _keras_twin("EfficientNetV2B2", 10_096_086, 260, "b", width=1.1,
                                      depth=1.2),
    "efficientnet_v2_b3": _keras_twin("EfficientNetV2B3", 14_358_406, 300, "b", width=1.2,
                                      depth=1.4),
    "efficientnet_v2_s": _keras_twin("EfficientNetV2S", 21_458_488, 384, "s"),
    "efficientnet_v2_m": _keras_twin("EfficientNetV2M", 54_139_356, 480, "m"),
    "efficientnet_v2_l": _keras_twin("EfficientNetV2L", 118_515_272, 480, "l"),
}


class EfficientNetV2(MBConvNet):
    """EfficientNetV2 ``arch`` ("b", "s", "m", "l") scaled by ``width`` and ``depth``."""

    width_rounding = "divisible_no_limit"
    norm_momentum = 0.9
    conv_init = FAN_OUT_INIT

    def __init__(self, arch="s", width=1.0, depth=1.0, drop_rate=0.2, **kwargs):
        stem_width, stages = ARCHS[arch]
        super().__init__(stages, width_mult=width, depth_mult=depth, act="swish",
                         stem_width=stem_width, head_width=1280, drop_rate=drop_rate, **kwargs)

    def keras_weight_pairs(self):
        pairs = conv_pairs(self.stem, "stem_conv", "stem_bn")
        for stage, index, _, block in self.named_blocks():
            prefix = f"block{stage + 1}{chr(97 + index)}_"
            if block.expand is not None:
                pairs += conv_pairs(block.expand, prefix + "expand_conv", prefix + "expand_bn")
            if getattr(block, "depthwise", None) is not None:
                pairs += conv_pairs(block.depthwise, prefix + "dwconv2", prefix + "bn")
            if block.se is not None:
                pairs += [(block.se.reduce, prefix + "se_reduce"),
                          (block.se.expand, prefix + "se_expand")]
            pairs += conv_pairs(block.project, prefix + "project_conv", prefix + "project_bn")
        return pairs + conv_pairs(self.head_conv, "top_conv", "top_bn")


register_family("EfficientNetV2", "Tan & Le, 2021", EfficientNetV2, VARIANTS)
