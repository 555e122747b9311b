"""MobileNet v2 (Sandler et al., 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks"),
laid out as tf_keras.applications.MobileNetV2, whose weights port one to one.

keras' rounding: block widths make_divisible(int(c * alpha)), stem make_divisible(32 * alpha),
the last 1x1 conv stays at 1280 for alpha <= 1; ReLU6; BN epsilon 1e-3, momentum 0.999.
"""
from tfcls.layers import make_divisible
from tfcls.models._mbconv_builder import MBConvNet, conv_pairs, decode_stages
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import TF_PREPROCESSING

STAGES = decode_stages(
    "ir r1 k3 s1 e1 c16",
    "ir r2 k3 s2 e6 c24",
    "ir r3 k3 s2 e6 c32",
    "ir r4 k3 s2 e6 c64",
    "ir r3 k3 s1 e6 c96",
    "ir r3 k3 s2 e6 c160",
    "ir r1 k3 s1 e6 c320",
)



def _keras_twin(alpha, params):
    return Variant(params=params, arch=dict(alpha=alpha), pretrained_cfg=TF_PREPROCESSING,
                   keras_twin="MobileNetV2", keras_kwargs={"alpha": alpha},
                   keras_preprocessing=TF_PREPROCESSING)


VARIANTS = {
    "mobilenet_v2_035": _keras_twin(alpha=0.35, params=1_677_128),
    "mobilenet_v2_050": _keras_twin(alpha=0.5, params=1_968_680),
    "mobilenet_v2_075": _keras_twin(alpha=0.75, params=2_636_424),
    "mobilenet_v2_100": _keras_twin(alpha=1.0, params=3_504_872),
    "mobilenet_v2_130": _keras_twin(alpha=1.3, params=5_386_792),
    "mobilenet_v2_140": _keras_twin(alpha=1.4, params=6_108_776),
}


class MobileNetV2(MBConvNet):
    """MobileNet v2 with width multiplier ``alpha``."""

    width_rounding = "int_divisible"
    norm_momentum = 0.999

    def __init__(self, alpha=1.0, drop_rate=0.0, **kwargs):
        super().__init__(STAGES, width_mult=alpha, act="relu6", stem_width=32, head_width=1280,
                         drop_rate=drop_rate, **kwargs)

    def stem_width(self, stem_width):
        return make_divisible(stem_width * self.width_mult)  # no int() first, unlike the blocks

    def head_width(self, head_width):
        if self.width_mult <= 1.0:
            return head_width  # keras keeps 1280 for alpha <= 1
        return make_divisible(head_width * self.width_mult)

    def keras_weight_pairs(self):
        pairs = conv_pairs(self.stem, "Conv1", "bn_Conv1")
        for _, _, number, block in self.named_blocks():
            prefix = f"block_{number}_" if number else "expanded_conv_"
            if block.expand is not None:
                pairs += conv_pairs(block.expand, prefix + "expand", prefix + "expand_BN")
            pairs += conv_pairs(block.depthwise, prefix + "depthwise", prefix + "depthwise_BN")
            pairs += conv_pairs(block.project, prefix + "project", prefix + "project_BN")
        return pairs + conv_pairs(self.head_conv, "Conv_1", "Conv_1_bn")


register_family("MobileNetV2", "Sandler et al., 2018", MobileNetV2, VARIANTS)
