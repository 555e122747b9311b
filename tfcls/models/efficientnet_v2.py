"""EfficientNetV2 B0-B3, S, M, L (Tan & Le, 2021, "EfficientNetV2: Smaller Models and Faster
Training"), laid out as tf_keras.applications.EfficientNetV2* (include_preprocessing=False), whose
weights port one to one.

Fused-MBConv early stages, MBConv with squeeze-excite (from the block input width) later; swish;
widths make_divisible(c * width) without EfficientNet's step up; BN epsilon 1e-3, momentum 0.9.
The ImageNet weights expect torch-style mean/std (B0-B3) or [-1, 1] with 128 as zero (S, M, L).
"""
import functools

from tfcls.layers import FAN_OUT_INIT
from tfcls.models._mbconv_builder import MBConvNet, conv_pairs, decode_stages
from tfcls.models._registration import TORCH_PREPROCESSING, registrar

register = registrar("EfficientNetV2", "Tan & Le, 2021")

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

# name: (arch, width, depth, resolution, keras twin, trainable parameters)
VARIANTS = {
    "efficientnet_v2_b0": ("b", 1.0, 1.0, 224, "EfficientNetV2B0", 7_139_704),
    "efficientnet_v2_b1": ("b", 1.0, 1.1, 240, "EfficientNetV2B1", 8_141_052),
    "efficientnet_v2_b2": ("b", 1.1, 1.2, 260, "EfficientNetV2B2", 10_096_086),
    "efficientnet_v2_b3": ("b", 1.2, 1.4, 300, "EfficientNetV2B3", 14_358_406),
    "efficientnet_v2_s": ("s", 1.0, 1.0, 384, "EfficientNetV2S", 21_458_488),
    "efficientnet_v2_m": ("m", 1.0, 1.0, 480, "EfficientNetV2M", 54_139_356),
    "efficientnet_v2_l": ("l", 1.0, 1.0, 480, "EfficientNetV2L", 118_515_272),
}


class EfficientNetV2(MBConvNet):
    """EfficientNetV2 ``arch`` ("b", "s", "m", "l") scaled by ``width`` and ``depth``."""

    width_rounding = "divisible_no_limit"
    norm_momentum = 0.9
    conv_init = FAN_OUT_INIT

    def __init__(self, arch="s", width=1.0, depth=1.0, resolution=384, drop_rate=0.2, **kwargs):
        stem_width, stages = ARCHS[arch]
        super().__init__(stages, width_mult=width, depth_mult=depth, act="swish",
                         stem_width=stem_width, head_width=1280, drop_rate=drop_rate, **kwargs)
        self.pretrained_cfg.update(_preprocessing(arch), input_size=resolution)

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


def _preprocessing(arch):
    return TORCH_PREPROCESSING if arch == "b" else MINUS_ONE_TO_ONE


for _name, (_arch, _width, _depth, _size, _keras, _params) in VARIANTS.items():
    register.variant(_name, functools.partial(EfficientNetV2, arch=_arch, width=_width,
                                              depth=_depth, resolution=_size),
                     params=_params,
                     reference=f"tf_keras.applications.{_keras}(include_preprocessing=False)",
                     resolution=_size, keras=_keras,
                     keras_kwargs={"include_preprocessing": False},
                     keras_preprocessing=_preprocessing(_arch))
