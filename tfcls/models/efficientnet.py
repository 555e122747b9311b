"""EfficientNet B0-B7 (Tan & Le, 2019, "EfficientNet: Rethinking Model Scaling for Convolutional
Neural Networks"), laid out as tf_keras.applications.EfficientNetB0..B7, whose weights port one
to one.

Compound scaling: widths make_divisible(c * width), repeats ceil(depth * r). MBConv blocks with
swish, squeeze-excite reduced from the block *input* width (max(1, int(c_in * 0.25))), drop
connect growing with the block index (rate * i / n), BN epsilon 1e-3 / momentum 0.99, He fan-out
conv init. keras normalizes inside the model (Rescaling + Normalization with ImageNet's mean and
std); tfcls does not, and records that normalization (torch-style mean/std) instead.
"""
import tf_keras

from tfcls.layers import FAN_OUT_INIT
from tfcls.models._mbconv_builder import MBConvNet, conv_pairs, decode_stages
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import TORCH_PREPROCESSING

STAGES = decode_stages(
    "ir r1 k3 s1 e1 c16 se0.25",
    "ir r2 k3 s2 e6 c24 se0.25",
    "ir r2 k5 s2 e6 c40 se0.25",
    "ir r3 k3 s2 e6 c80 se0.25",
    "ir r3 k5 s1 e6 c112 se0.25",
    "ir r4 k5 s2 e6 c192 se0.25",
    "ir r1 k3 s1 e6 c320 se0.25",
)



def _twin(index, params, resolution, width, depth, drop):
    """EfficientNet-B``index``: keras' EfficientNetB``index``, whose weights port one to one, as
    do timm's TF port of them (``tf_efficientnet_b<index>.aa_in1k``); arch: compound width and
    depth coefficients, dropout before the classifier (keras' dropout_rate)."""
    return Variant(params=params, arch=dict(width=width, depth=depth, drop_rate=drop),
                   resolution=resolution, keras_twin=f"EfficientNetB{index}",
                   keras_preprocessing=TORCH_PREPROCESSING,
                   timm_twin=f"timm/tf_efficientnet_b{index}.aa_in1k")


VARIANTS = {
    "efficientnet_b0": _twin(0, 5_288_548, 224, width=1.0, depth=1.0, drop=0.2),
    "efficientnet_b1": _twin(1, 7_794_184, 240, width=1.0, depth=1.1, drop=0.2),
    "efficientnet_b2": _twin(2, 9_109_994, 260, width=1.1, depth=1.2, drop=0.3),
    "efficientnet_b3": _twin(3, 12_233_232, 300, width=1.2, depth=1.4, drop=0.3),
    "efficientnet_b4": _twin(4, 19_341_616, 380, width=1.4, depth=1.8, drop=0.4),
    "efficientnet_b5": _twin(5, 30_389_784, 456, width=1.6, depth=2.2, drop=0.4),
    "efficientnet_b6": _twin(6, 43_040_704, 528, width=1.8, depth=2.6, drop=0.5),
    "efficientnet_b7": _twin(7, 66_347_960, 600, width=2.0, depth=3.1, drop=0.5),
}
# keras' classifier init: uniform, variance 1/3 over fan-out.
DENSE_INIT = {"class_name": "VarianceScaling",
              "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"}}


class EfficientNet(MBConvNet):
    """EfficientNet with compound coefficients ``width``, ``depth``."""

    conv_init = FAN_OUT_INIT

    def __init__(self, width=1.0, depth=1.0, drop_rate=0.2, **kwargs):
        super().__init__(STAGES, width_mult=width, depth_mult=depth, act="swish", stem_width=32,
                         head_width=1280, drop_rate=drop_rate, **kwargs)
        if self.head is not None and self.head.fc is not None:
            self.head.fc.kernel_initializer = tf_keras.initializers.get(DENSE_INIT)

    def keras_weight_pairs(self):
        pairs = conv_pairs(self.stem, "stem_conv", "stem_bn")
        for stage, index, _, block in self.named_blocks():
            prefix = f"block{stage + 1}{chr(97 + index)}_"
            if block.expand is not None:
                pairs += conv_pairs(block.expand, prefix + "expand_conv", prefix + "expand_bn")
            pairs += conv_pairs(block.depthwise, prefix + "dwconv", prefix + "bn")
            pairs += [(block.se.reduce, prefix + "se_reduce"),
                      (block.se.expand, prefix + "se_expand")]
            pairs += conv_pairs(block.project, prefix + "project_conv", prefix + "project_bn")
        return pairs + conv_pairs(self.head_conv, "top_conv", "top_bn")

    def torch_weight_pairs(self, source="timm"):
        """(our layer, its timm ``tf_efficientnet_b*`` twin's module name): the TF-ported
        weights in TF's layout ("same" padding, epsilon 1e-3), block for block."""
        return self.timm_block_pairs() + [(self.head_conv, ("conv_head", "bn2")),
                                          (self.classifier_layer, "classifier")]


register_family("EfficientNet", "Tan & Le, 2019", EfficientNet, VARIANTS)
