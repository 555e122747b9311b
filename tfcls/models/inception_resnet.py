"""Inception-ResNet v1 and v2 (Szegedy et al., 2016, "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning"): Inception modules whose concatenated branches are
projected back by a biased 1x1 convolution and added to the input, scaled by 0.17 (35x35 blocks),
0.1 (17x17) and 0.2 (8x8); the last 8x8 block is unscaled and has no ReLU.

* inception_resnet_v2: the tf_keras.applications.InceptionResNetV2 layout (weights port one to
  one): batch norms without scale, epsilon 1e-3, keras' block names (block35_1, ..., conv_7b).
* inception_resnet_v1: the paper's v1 body as facenet-pytorch's InceptionResnetV1 builds it
  (torch layout, BN epsilon 1e-3), with the paper's head: average pool, dropout 0.6 (facenet's
  rate; the paper keeps 0.8), 1792 -> 1000 linear instead of facenet's face-embedding head.
"""
import tf_keras

from tfcls.layers import ClassifierHead, ConvNormAct, DropPath, build_branches, get_activation
from tfcls.models._inception import (TORCH_DEFAULT_INIT, InceptionNet, build_stem, inception_pool,
                                     keras_auto_pairs, keras_conv, torch_conv)
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import TF_PREPROCESSING

_V = "valid"

# Variant table. A stage is (name, count, branches, scale) for residual blocks (projection width
# = input width) or (name, None, branches, None) for a plain Inception module; a branch is a list
# of (filters, kernel[, strides, padding]) / pool steps (tfcls.layers.build_branches).
_V2_STEM = [(32, 3, 2, _V), (32, 3, 1, _V), (64, 3), "max", (80, 1, 1, _V), (192, 3, 1, _V), "max"]
_V2_STAGES = [
    ("mixed_5b", None, [[(96, 1)], [(48, 1), (64, 5)], [(64, 1), (96, 3), (96, 3)],
                        ["avg", (64, 1)]], None),
    ("block35", 10, [[(32, 1)], [(32, 1), (32, 3)], [(32, 1), (48, 3), (64, 3)]], 0.17),
    ("mixed_6a", None, [[(384, 3, 2, _V)], [(256, 1), (256, 3), (384, 3, 2, _V)], ["max"]], None),
    ("block17", 20, [[(192, 1)], [(128, 1), (160, (1, 7)), (192, (7, 1))]], 0.1),
    ("mixed_7a", None, [[(256, 1), (384, 3, 2, _V)], [(256, 1), (288, 3, 2, _V)],
                        [(256, 1), (288, 3), (320, 3, 2, _V)], ["max"]], None),
    ("block8", 10, [[(192, 1)], [(192, 1), (224, (1, 3)), (256, (3, 1))]], 0.2),
]
_V1_STEM = [(32, 3, 2, _V), (32, 3, 1, _V), (64, 3), "max", (80, 1, 1, _V), (192, 3, 1, _V),
            (256, 3, 2, _V)]
_V1_STAGES = [
    ("block35", 5, [[(32, 1)], [(32, 1), (32, 3)], [(32, 1), (32, 3), (32, 3)]], 0.17),
    ("mixed_6a", None, [[(384, 3, 2, _V)], [(192, 1), (192, 3), (256, 3, 2, _V)], ["max"]], None),
    ("block17", 10, [[(128, 1)], [(128, 1), (128, (1, 7)), (128, (7, 1))]], 0.1),
    ("mixed_7a", None, [[(256, 1), (384, 3, 2, _V)], [(256, 1), (256, 3, 2, _V)],
                        [(256, 1), (256, 3), (256, 3, 2, _V)], ["max"]], None),
    ("block8", 6, [[(192, 1)], [(192, 1), (192, (1, 3)), (192, (3, 1))]], 0.2),
]
VARIANTS = {
    "inception_resnet_v1": Variant(
        params=24_357_096, resolution=299, min_resolution=75,
        reference="facenet-pytorch InceptionResnetV1 body + 1792->1000 linear head",
        arch=dict(stem=_V1_STEM, stages=_V1_STAGES, final_width=None, make_conv=torch_conv,
                  conv_init=TORCH_DEFAULT_INIT, drop_rate=0.6)),
    "inception_resnet_v2": Variant(
        params=55_813_192, resolution=299, min_resolution=75, keras_twin="InceptionResNetV2",
        keras_preprocessing=TF_PREPROCESSING,
        arch=dict(stem=_V2_STEM, stages=_V2_STAGES, final_width=1536, make_conv=keras_conv,
                  conv_init="glorot_uniform")),
}


# --- the residual Inception block (Inception-ResNet only) ----------------------------------------
class InceptionResidual(tf_keras.layers.Layer):
    """Inception-ResNet block: ``act(x + scale * drop_path(up(branches(x))))``, where ``up`` is a
    1x1 convolution (``projection``, biased, no norm in the paper's and keras' layout) back to the
    input width. ``act=None`` leaves the sum as it is (the last block of Inception-ResNet)."""

    def __init__(self, branches, projection, scale=1.0, act="relu", drop_path_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.branches = branches
        self.projection = projection
        self.scale = float(scale)
        self.act = act
        self.act_fn = get_activation(act)
        self.drop_path = DropPath(drop_path_rate, name="drop_path")

    def computation_order(self):
        """Sublayers in the order they compute (for ``tfcls.layers.conv_layers``)."""
        return [self.branches, self.projection]

    def call(self, x, training=None):
        residual = self.projection(self.branches(x, training=training), training=training)
        x = x + self.drop_path(residual * self.scale, training=training)
        return self.act_fn(x) if self.act_fn is not None else x

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "act": self.act,
                "drop_path_rate": self.drop_path.base_rate}


class InceptionResNet(InceptionNet):
    """Inception-ResNet: a stem, residual Inception blocks at 35x35, 17x17 and 8x8 separated by
    grid reductions, (v2) a final 1x1 convolution, global average pool, dropout, linear.

    Args:
      stem, stages: the variant's table rows (above).
      final_width: width of the last 1x1 conv (v2: 1536 "conv_7b"), None for none.
      make_conv: the conv + BN + ReLU factory (keras or torch layout); conv_init: the
        initializer of the residual projections (keras' glorot or torch's default).
      drop_rate: dropout before the classifier; drop_path_rate: stochastic depth of the last
        residual block, linear in depth from 0.
    """

    drop_path_rule = "linear"

    def __init__(self, stem, stages, final_width, make_conv, conv_init, num_classes=1000,
                 drop_rate=0.0, drop_path_rate=0.0, global_pool="avg", features_only=False,
                 **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        body = build_stem(stem, make_conv, inception_pool)
        taps = [2, 5]  # strides 2 and 4: after the third and fifth stem convolutions
        width = [step for step in stem if not isinstance(step, str)][-1][0]
        for stage, (name, count, branches, scale) in enumerate(stages):
            if count is None:
                body.append(build_branches(branches, make_conv, inception_pool, name=name))
                width = _concat_width(branches, width)
                continue
            for index in range(count):
                last = stage == len(stages) - 1 and index == count - 1
                body.append(InceptionResidual(
                    build_branches(branches, make_conv, inception_pool, name="branches"),
                    ConvNormAct(width, 1, use_bias=True, norm=None, act=None,
                                kernel_initializer=conv_init, name="conv"),
                    scale=1.0 if last else scale, act=None if last else "relu",
                    name=f"{name}_{index + 1}"))
            if stage < len(stages) - 1:
                taps.append(len(body) - 1)  # strides 8 and 16: before each grid reduction
        if final_width:
            body.append(make_conv(final_width, 1, name="conv_7b"))
            width = final_width
        taps.append(len(body) - 1)
        self._set_body(body, taps)
        self.apply_drop_path_rule([b for b in body if isinstance(b, InceptionResidual)],
                                  drop_path_rate)
        self.num_features = width
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, name="head")

    def keras_weight_pairs(self, keras_model):
        """(our layer, tf_keras.applications.InceptionResNetV2's layer name), for the port: the
        named layers by name (blockNN_i_conv, conv_7b), the auto-named ones in creation order."""
        named = {id(block.projection): f"{block.name}_conv" for block in self.body
                 if isinstance(block, InceptionResidual)}
        named.update({id(layer): layer.name for layer in self.body if layer.name == "conv_7b"})
        return keras_auto_pairs(self.body, keras_model, lambda conv: named.get(id(conv)))


def _concat_width(branches, in_width):
    """Channels out of a plain Inception module: each branch's last conv, or the input (pool)."""
    return sum(in_width if isinstance(steps[-1], str) else steps[-1][0] for steps in branches)


register_family("Inception-ResNet", "Szegedy et al., 2016", InceptionResNet, VARIANTS)
