"""MobileNet v1 (Howard et al., 2017, "MobileNets: Efficient Convolutional Neural Networks for
Mobile Vision Applications"), laid out as tf_keras.applications.MobileNet, whose weights port one
to one.

keras' quirks kept: widths int(c * alpha) (no rounding to 8), one pixel of zero padding at the
bottom and right before each stride-2 depthwise conv whatever the input size (not TF's "same"),
ReLU6, BN epsilon 1e-3 / momentum 0.99, dropout 1e-3; keras' 1x1-conv classifier becomes our
Dense (same weights, reshaped).
"""
from tfcls.models._mbconv_builder import MBConvNet, conv_pairs, conv_to_dense, decode_stages
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import TF_PREPROCESSING

STAGES = decode_stages(
    "ds r1 k3 s1 e1 c64",
    "ds r2 k3 s2 e1 c128",
    "ds r2 k3 s2 e1 c256",
    "ds r6 k3 s2 e1 c512",
    "ds r2 k3 s2 e1 c1024",
)



def _keras_twin(alpha, params):
    return Variant(params=params, arch=dict(alpha=alpha), pretrained_cfg=TF_PREPROCESSING,
                   keras_twin="MobileNet", keras_kwargs={"alpha": alpha},
                   keras_preprocessing=TF_PREPROCESSING)


VARIANTS = {
    "mobilenet_v1_025": _keras_twin(alpha=0.25, params=470_072),
    "mobilenet_v1_050": _keras_twin(alpha=0.5, params=1_331_592),
    "mobilenet_v1_075": _keras_twin(alpha=0.75, params=2_585_560),
    "mobilenet_v1_100": _keras_twin(alpha=1.0, params=4_231_976),
}


class MobileNetV1(MBConvNet):
    """MobileNet v1 with width multiplier ``alpha``."""

    width_rounding = "int"
    stride2_padding = "bottom_right"
    residual = False

    def __init__(self, alpha=1.0, drop_rate=1e-3, **kwargs):
        super().__init__(STAGES, width_mult=alpha, act="relu6", stem_width=32,
                         drop_rate=drop_rate, **kwargs)

    def keras_weight_pairs(self):
        pairs = conv_pairs(self.stem, "conv1", "conv1_bn")
        for _, _, number, block in self.named_blocks():
            keras_id = number + 1
            pairs += conv_pairs(block.depthwise, f"conv_dw_{keras_id}", f"conv_dw_{keras_id}_bn")
            pairs += conv_pairs(block.project, f"conv_pw_{keras_id}", f"conv_pw_{keras_id}_bn")
        if self.head is not None and self.head.fc is not None:
            pairs.append((self.head.fc, "conv_preds", conv_to_dense))
        return pairs


register_family("MobileNetV1", "Howard et al., 2017", MobileNetV1, VARIANTS)
