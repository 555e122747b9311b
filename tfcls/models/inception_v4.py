"""Inception-v4 (Szegedy et al., 2016, "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning"), the timm ``inception_v4`` layout (from Cadene's port of the TF-slim
model): unbiased convolutions, batch norm epsilon 1e-3, torch zero padding (k//2 where timm pads,
none elsewhere), average-pool branches that do not count the padding.
"""
from tfcls.layers import ClassifierHead, build_branches
from tfcls.models._inception import (InceptionNet, build_stem, inception_pool,
                                     torch_branch_pairs, torch_conv, torch_conv_pair)
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import TF_PREPROCESSING

_V = "valid"
_SPLIT_256 = [[(256, (1, 3))], [(256, (3, 1))]]  # 1x3 | 3x1, concatenated in place

# Variant table: stem convolutions, then the blocks (branch lists, in timm's concatenation order).
_STEM = [(32, 3, 2, _V), (32, 3, 1, _V), (64, 3)]
_INCEPTION_A = [[(96, 1)], [(64, 1), (96, 3)], [(64, 1), (96, 3), (96, 3)], ["avg", (96, 1)]]
_INCEPTION_B = [[(384, 1)], [(192, 1), (224, (1, 7)), (256, (7, 1))],
                [(192, 1), (192, (7, 1)), (224, (1, 7)), (224, (7, 1)), (256, (1, 7))],
                ["avg", (128, 1)]]
_INCEPTION_C = [[(256, 1)], [(384, 1), _SPLIT_256],
                [(384, 1), (448, (3, 1)), (512, (1, 3)), _SPLIT_256], ["avg", (256, 1)]]
_BLOCKS = (
    [("mixed_3a", [["max"], [(96, 3, 2, _V)]]),
     ("mixed_4a", [[(64, 1), (96, 3, 1, _V)],
                   [(64, 1), (64, (1, 7)), (64, (7, 1)), (96, 3, 1, _V)]]),
     ("mixed_5a", [[(192, 3, 2, _V)], ["max"]])]
    + [(f"inception_a{i + 1}", _INCEPTION_A) for i in range(4)]
    + [("reduction_a", [[(384, 3, 2, _V)], [(192, 1), (224, 3), (256, 3, 2, _V)], ["max"]])]
    + [(f"inception_b{i + 1}", _INCEPTION_B) for i in range(7)]
    + [("reduction_b", [[(192, 1), (192, 3, 2, _V)],
                        [(256, 1), (256, (1, 7)), (320, (7, 1)), (320, 3, 2, _V)], ["max"]])]
    + [(f"inception_c{i + 1}", _INCEPTION_C) for i in range(3)])
# timm's inception_v4.tf_in1k weights expect [-1, 1] inputs.
VARIANTS = {"inception_v4": Variant(params=42_679_816, reference="timm inception_v4",
                                    arch=dict(stem=_STEM, blocks=_BLOCKS), resolution=299,
                                    min_resolution=75, pretrained_cfg=TF_PREPROCESSING,
                                    timm_twin="timm/inception_v4.tf_in1k")}
_FEATURE_TAPS = (2, 3, 9, 17, 21)  # timm's feature_info: features.2, .3, .9, .17, .21


class InceptionV4(InceptionNet):
    """Inception-v4: the stem (3 convs, mixed 3a/4a/5a), 4 Inception-A (35x35), reduction A,
    7 Inception-B (17x17), reduction B, 3 Inception-C (8x8), global average pool, dropout,
    linear.

    Args:
      drop_rate: dropout before the classifier (timm: 0; the paper: keep 0.8).
    """

    def __init__(self, stem, blocks, num_classes=1000, drop_rate=0.0, global_pool="avg",
                 features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        body = build_stem(stem, torch_conv, inception_pool)
        body += [build_branches(branches, torch_conv, inception_pool, name=name)
                 for name, branches in blocks]
        self._set_body(body, _FEATURE_TAPS)
        self.num_features = 1536
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, name="head")

    def torch_weight_pairs(self, source="timm"):
        """(our layer, its timm twin's module name): our body is timm's ``features``, layer for
        layer; mixed 3a/5a call their one conv ``conv``; the classifier is ``last_linear``."""
        pairs = []
        for index, layer in enumerate(self.body):
            prefix = f"features.{index}"
            if not hasattr(layer, "branches"):
                pairs.append(torch_conv_pair(layer, prefix))
            elif layer.name in ("mixed_3a", "mixed_5a"):
                (conv,) = [step for steps in layer.branches for step in steps
                           if hasattr(step, "conv")]
                pairs.append(torch_conv_pair(conv, f"{prefix}.conv"))
            else:
                pairs += torch_branch_pairs(layer, prefix)
        return pairs + [(self.classifier_layer, "last_linear")]


register_family("Inception", "Szegedy et al., 2016 (v4)", InceptionV4, VARIANTS)
