"""EfficientNet B0-B7 (Tan & Le, 2019, "EfficientNet: Rethinking Model Scaling for Convolutional
Neural Networks"), laid out as tf_keras.applications.EfficientNetB0..B7, whose weights port one
to one.

Compound scaling: widths make_divisible(c * width), repeats ceil(depth * r). MBConv blocks with
swish, squeeze-excite reduced from the block *input* width (max(1, int(c_in * 0.25))), drop
connect growing with the block index (rate * i / n), BN epsilon 1e-3 / momentum 0.99, He fan-out
conv init. keras normalizes inside the model (Rescaling + Normalization with ImageNet's mean and
std); tfcls does not, and records that normalization (torch-style mean/std) instead.
"""
import functools

import tf_keras

from tfcls.layers import FAN_OUT_INIT
from tfcls.models._mbconv_builder import MBConvNet, conv_pairs, decode_stages
from tfcls.models._registration import TORCH_PREPROCESSING, registrar

register = registrar("EfficientNet", "Tan & Le, 2019")

STAGES = decode_stages(
    "ir r1 k3 s1 e1 c16 se0.25",
    "ir r2 k3 s2 e6 c24 se0.25",
    "ir r2 k5 s2 e6 c40 se0.25",
    "ir r3 k3 s2 e6 c80 se0.25",
    "ir r3 k5 s1 e6 c112 se0.25",
    "ir r4 k5 s2 e6 c192 se0.25",
    "ir r1 k3 s1 e6 c320 se0.25",
)

# name: (width, depth, resolution, dropout, trainable parameters of the keras twin)
VARIANTS = {
    "efficientnet_b0": (1.0, 1.0, 224, 0.2, 5_288_548),
    "efficientnet_b1": (1.0, 1.1, 240, 0.2, 7_794_184),
    "efficientnet_b2": (1.1, 1.2, 260, 0.3, 9_109_994),
    "efficientnet_b3": (1.2, 1.4, 300, 0.3, 12_233_232),
    "efficientnet_b4": (1.4, 1.8, 380, 0.4, 19_341_616),
    "efficientnet_b5": (1.6, 2.2, 456, 0.4, 30_389_784),
    "efficientnet_b6": (1.8, 2.6, 528, 0.5, 43_040_704),
    "efficientnet_b7": (2.0, 3.1, 600, 0.5, 66_347_960),
}
# keras' classifier init: uniform, variance 1/3 over fan-out.
DENSE_INIT = {"class_name": "VarianceScaling",
              "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"}}


class EfficientNet(MBConvNet):
    """EfficientNet with compound coefficients ``width``, ``depth``."""

    conv_init = FAN_OUT_INIT

    def __init__(self, width=1.0, depth=1.0, resolution=224, drop_rate=0.2, **kwargs):
        super().__init__(STAGES, width_mult=width, depth_mult=depth, act="swish", stem_width=32,
                         head_width=1280, drop_rate=drop_rate, **kwargs)
        self.pretrained_cfg.update(TORCH_PREPROCESSING, input_size=resolution)
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


for _name, (_width, _depth, _size, _drop, _params) in VARIANTS.items():
    _keras = f"EfficientNetB{_name[-1]}"
    register.variant(_name, functools.partial(EfficientNet, width=_width, depth=_depth,
                                              resolution=_size, drop_rate=_drop),
                     params=_params, reference=f"tf_keras.applications.{_keras}", resolution=_size,
                     keras=_keras, keras_preprocessing=TORCH_PREPROCESSING)
