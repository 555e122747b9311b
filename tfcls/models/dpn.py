"""Dual Path Networks (Chen et al., 2017, "Dual Path Networks"), timm layout (a port of the MXNet
original): a stem conv and max-pool, four stages of dual path blocks (grouped bottlenecks whose
output both adds to a residual path and grows a densely connected path), a final batch norm with
ReLU over both paths concatenated (timm's ``conv5_bn_ac``; ``final_act="elu"`` for older timm),
global average pooling and a classifier
(timm's is a biased 1x1 conv: the same weights as our Dense, reshaped). Batch-norm epsilon 1e-3.
"""
import tensorflow as tf
import tf_keras

from tfcls.layers import (ClassifierHead, ConvNormAct, get_activation, symmetric_padding_layer,
                          use_torch_default_init)
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import ImageClassifier

# The original (MXNet) input: RGB minus (124, 117, 104), times 0.0167 (timm's IMAGENET_DPN_*).
DPN_INPUT = {"mean": (124 / 255, 117 / 255, 104 / 255), "std": (1 / (0.0167 * 255),) * 3}


def _timm_twin(twin, params, **arch):
    """A row whose reference and ImageNet weights are timm's ``twin`` (``<arch>.<tag>``)."""
    return Variant(params=params, reference=f"timm {twin.split('.')[0]}", arch=arch,
                   pretrained_cfg=DPN_INPUT, timm_twin=f"timm/{twin}")


# arch as timm's table. ``small``: a 3x3 stem and 4x narrower residual paths; ``k_r``: bottleneck
# width per 64 residual channels; ``blocks``/``growth``: blocks and dense growth per stage (timm's
# k_sec/inc_sec).
VARIANTS = {
    "dpn68": _timm_twin("dpn68.mx_in1k", 12_611_602, small=True, stem_width=10, k_r=128, groups=32,
                        blocks=(3, 4, 12, 3), growth=(16, 32, 32, 64)),
    "dpn92": _timm_twin("dpn92.mx_in1k", 37_668_392, stem_width=64, k_r=96, groups=32,
                        blocks=(3, 4, 20, 3), growth=(16, 32, 24, 128)),
    "dpn98": _timm_twin("dpn98.mx_in1k", 61_570_728, stem_width=96, k_r=160, groups=40,
                        blocks=(3, 6, 20, 3), growth=(16, 32, 32, 128)),
    "dpn107": _timm_twin("dpn107.mx_in1k", 86_917_800, stem_width=128, k_r=200, groups=50,
                         blocks=(4, 8, 20, 3), growth=(20, 64, 64, 128)),
    "dpn131": _timm_twin("dpn131.mx_in1k", 79_254_504, stem_width=128, k_r=160, groups=40,
                         blocks=(4, 8, 28, 3), growth=(16, 32, 32, 128)),
}


# --- dual path blocks (DPN only) -----------------------------------------------------------------
class BnActConv(tf_keras.layers.Layer):
    """BatchNorm -> activation -> Conv2D (bias-free, optionally grouped, PyTorch k//2 padding):
    timm's ``BnActConv2d``. Batch-norm epsilon 1e-3 as the MXNet original."""

    def __init__(self, filters, kernel_size=1, strides=1, groups=1, act="relu", norm_eps=1e-3,
                 norm_momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel_size
        self.strides, self.groups = strides, groups
        self.act, self.norm_eps, self.norm_momentum = act, norm_eps, norm_momentum
        self.bn = tf_keras.layers.BatchNormalization(epsilon=norm_eps, momentum=norm_momentum,
                                                     name="bn")
        self.act_fn = get_activation(act)
        self.pad, padding = symmetric_padding_layer(kernel_size, strides)
        self.conv = tf_keras.layers.Conv2D(filters, kernel_size, strides, padding=padding,
                                           groups=groups, use_bias=False, name="conv")

    def call(self, x, training=None):
        x = self.act_fn(self.bn(x, training=training))
        if self.pad is not None:
            x = self.pad(x)
        return self.conv(x)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "groups": self.groups, "act": self.act,
                "norm_eps": self.norm_eps, "norm_momentum": self.norm_momentum}


class DualPathBlock(tf_keras.layers.Layer):
    """timm's ``DualPathBlock``: a grouped bottleneck (1x1 ``bottleneck``, grouped 3x3
    ``bottleneck``, 1x1 ``residual + growth``) whose first ``residual`` output channels are added to
    the residual path and whose last ``growth`` channels are appended to the dense path.

    Takes the (residual, dense) pair, or one tensor for the first block of a network.
    ``block_type``: "normal" (identity paths), "proj" (a 1x1 projection makes both paths, the dense
    one with 2 * growth channels) or "down" (the same projection and the 3x3 at stride 2).
    Returns the new (residual, dense) pair.
    """

    def __init__(self, bottleneck, residual, growth, groups, block_type="normal", **kwargs):
        super().__init__(**kwargs)
        if block_type not in ("normal", "proj", "down"):
            raise ValueError(f"block_type must be 'normal', 'proj' or 'down', got {block_type!r}.")
        self.bottleneck, self.residual, self.growth = bottleneck, residual, growth
        self.groups, self.block_type = groups, block_type
        strides = 2 if block_type == "down" else 1
        self.c1x1_w = (BnActConv(residual + 2 * growth, 1, strides, name="c1x1_w")
                       if block_type != "normal" else None)
        self.c1x1_a = BnActConv(bottleneck, 1, name="c1x1_a")
        self.c3x3_b = BnActConv(bottleneck, 3, strides, groups=groups, name="c3x3_b")
        self.c1x1_c = BnActConv(residual + growth, 1, name="c1x1_c")

    def call(self, x, training=None):
        x_in = tf.concat(list(x), axis=-1) if isinstance(x, (list, tuple)) else x
        if self.c1x1_w is None:
            residual, dense = x
        else:
            projected = self.c1x1_w(x_in, training=training)
            residual, dense = projected[..., :self.residual], projected[..., self.residual:]
        out = self.c1x1_a(x_in, training=training)
        out = self.c3x3_b(out, training=training)
        out = self.c1x1_c(out, training=training)
        return (residual + out[..., :self.residual],
                tf.concat([dense, out[..., self.residual:]], axis=-1))

    def get_config(self):
        return {**super().get_config(), "bottleneck": self.bottleneck, "residual": self.residual,
                "growth": self.growth, "groups": self.groups, "block_type": self.block_type}


class DPN(ImageClassifier):
    """A Dual Path Network.

    Args:
      blocks, growth: dual path blocks and dense-path growth (channels per block) of each stage.
      k_r, groups: bottleneck width (per 64 residual channels) and groups of its 3x3 conv.
      stem_width: channels of the stem conv (7x7, or 3x3 when ``small``).
      small: DPN-68's narrow layout (residual paths 64, 128, 256, 512 instead of 4x that).
      drop_rate: dropout before the classifier (timm's ``drop_rate``, 0 by default).
      final_act: activation after the final batch norm. timm (1.0.31, whose code evaluates the
        imported ImageNet weights) applies ReLU: its ``get_norm_act_layer`` keeps the ``relu``
        already bound into the norm layer, so its ``fc_act_layer="elu"`` has no effect. Older timm
        applied ELU: ``final_act="elu"``.
    """

    def __init__(self, blocks, growth, k_r, groups, stem_width, small=False, num_classes=1000,
                 drop_rate=0.0, global_pool="avg", features_only=False, final_act="relu",
                 **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
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
            raise ValueError(f"DPN final_act must be 'relu' (timm today) or 'elu', got "
                             f"{final_act!r}.")
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


register_family("DPN", "Chen et al., 2017", DPN, VARIANTS)
