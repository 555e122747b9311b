"""Dual Path Networks (Chen et al., 2017, "Dual Path Networks"), timm layout (a port of the MXNet
original): a stem conv and max-pool, four stages of dual path blocks (grouped bottlenecks whose
output both adds to a residual path and grows a densely connected path), a final batch norm with
ReLU over both paths concatenated (timm's ``conv5_bn_ac``; ``final_act="elu"`` for older timm),
global average pooling and a classifier
(timm's is a biased 1x1 conv: the same weights as our Dense, reshaped). Batch-norm epsilon 1e-3.
"""
import functools

import tensorflow as tf
import tf_keras

from tfcls.layers import (ClassifierHead, ConvNormAct, DualPathBlock, get_activation,
                          use_torch_default_init)
from tfcls.models._registration import registrar
from tfcls.models.base import ImageClassifier

register = registrar("DPN", "Chen et al., 2017")

# The original (MXNet) input: RGB minus (124, 117, 104), times 0.0167 (timm's IMAGENET_DPN_*).
DPN_MEAN = (124 / 255, 117 / 255, 104 / 255)
DPN_STD = (1 / (0.0167 * 255),) * 3

# name: architecture (as timm's table) and trainable parameters with 1000 classes. ``small``: a
# 3x3 stem and 4x narrower residual paths; ``k_r``: bottleneck width per 64 residual channels;
# ``blocks``/``growth``: blocks and dense growth per stage (timm's k_sec/inc_sec).
VARIANTS = {
    "dpn68": (dict(small=True, stem_width=10, k_r=128, groups=32, blocks=(3, 4, 12, 3),
                   growth=(16, 32, 32, 64)), 12_611_602),
    "dpn92": (dict(stem_width=64, k_r=96, groups=32, blocks=(3, 4, 20, 3),
                   growth=(16, 32, 24, 128)), 37_668_392),
    "dpn98": (dict(stem_width=96, k_r=160, groups=40, blocks=(3, 6, 20, 3),
                   growth=(16, 32, 32, 128)), 61_570_728),
    "dpn107": (dict(stem_width=128, k_r=200, groups=50, blocks=(4, 8, 20, 3),
                    growth=(20, 64, 64, 128)), 86_917_800),
    "dpn131": (dict(stem_width=128, k_r=160, groups=40, blocks=(4, 8, 28, 3),
                    growth=(16, 32, 32, 128)), 79_254_504),
}


class DPN(ImageClassifier):
    """A Dual Path Network.

    Args:
      blocks, growth: dual path blocks and dense-path growth (channels per block) of each stage.
      k_r, groups: bottleneck width (per 64 residual channels) and groups of its 3x3 conv.
      stem_width: channels of the stem conv (7x7, or 3x3 when ``small``).
      small: DPN-68's narrow layout (residual paths 64, 128, 256, 512 instead of 4x that).
      drop_rate: dropout before the classifier (timm's ``drop_rate``, 0 by default).
      drop_path_rate: must be 0; the reference has no stochastic depth.
      final_act: activation after the final batch norm. timm (1.0.31, whose code evaluates the
        imported ImageNet weights) applies ReLU: its ``get_norm_act_layer`` keeps the ``relu``
        already bound into the norm layer, so its ``fc_act_layer="elu"`` has no effect. Older timm
        applied ELU: ``final_act="elu"``.
    """

    def __init__(self, blocks, growth, k_r, groups, stem_width, small=False, num_classes=1000,
                 drop_rate=0.0, drop_path_rate=0.0, global_pool="avg", features_only=False,
                 final_act="relu", **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        if drop_path_rate:
            raise ValueError("DPN has no stochastic depth, so drop_path_rate must be 0.")
        self.pretrained_cfg = {**self.pretrained_cfg, "mean": DPN_MEAN, "std": DPN_STD}
        self.stem = ConvNormAct(stem_width, 3 if small else 7, 2, norm_eps=1e-3, name="conv1_1")
        self.stem_pool = tf_keras.layers.MaxPooling2D(3, 2, padding="valid", name="conv1_pool")
        width_factor = 1 if small else 4
        self.stages, channels = [], stem_width
        for stage, (count, grow) in enumerate(zip(blocks, growth)):
            residual = 64 * width_factor * 2 ** stage
            bottleneck = k_r * residual // (64 * width_factor)
            units = []
            for index in range(count):
                block_type = "normal" if index else ("proj" if stage == 0 else "down")
                units.append(DualPathBlock(bottleneck, residual, grow, groups, block_type,
                                           name=f"conv{stage + 2}_{index + 1}"))
            self.stages.append(units)
            channels = residual + (count + 2) * grow
        self.final_norm = tf_keras.layers.BatchNormalization(epsilon=1e-3, momentum=0.9,
                                                             name="conv5_bn_ac")
        if final_act not in ("relu", "elu"):
            raise ValueError(f"DPN final_act must be 'relu' (timm today) or 'elu', got {final_act!r}.")
        self.final_act = get_activation(final_act)
        self.num_features = channels
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, name="head")
        use_torch_default_init(self)

    def forward_stages(self, x, training=None):
        x = self.stem(x, training=training)
        features = [x]  # stride 2
        # timm's max-pool pads by 1; zeros equal -inf padding after the ReLU.
        x = self.stem_pool(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]))
        for stage in self.stages:
            for block in stage:
                x = block(x, training=training)
            features.append(tf.concat(x, axis=-1))  # strides 4, 8, 16, 32 (both paths)
        features[-1] = self.final_act(self.final_norm(features[-1], training=training))
        return features

    def torch_weight_pairs(self, source="timm"):
        """(our layer, its timm twin's module name): our blocks carry timm's names
        (``conv{stage}_{block}``); a projection is ``c1x1_w_s1`` (stride 1) or ``c1x1_w_s2``; each
        unit is BN then conv; the classifier is a 1x1 conv (our Dense)."""
        pairs = [(self.stem, ("features.conv1_1.conv", "features.conv1_1.bn"))]
        for block in (block for stage in self.stages for block in stage):
            prefix = f"features.{block.name}"
            units = [("c1x1_a", block.c1x1_a), ("c3x3_b", block.c3x3_b), ("c1x1_c", block.c1x1_c)]
            if block.c1x1_w is not None:
                stride = 2 if block.block_type == "down" else 1
                units.insert(0, (f"c1x1_w_s{stride}", block.c1x1_w))
            for name, unit in units:
                pairs += [(unit.bn, f"{prefix}.{name}.bn"), (unit.conv, f"{prefix}.{name}.conv")]
        return pairs + [(self.final_norm, "features.conv5_bn_ac.bn"),
                        (self.classifier_layer, "classifier")]


for _name, (_arch, _params) in VARIANTS.items():
    register.variant(_name, functools.partial(DPN, **_arch), params=_params,
                     reference=f"timm {_name}")
