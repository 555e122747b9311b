"""Inception-v3 (Szegedy et al., 2015, "Rethinking the Inception Architecture for Computer
Vision"), the tf_keras.applications.InceptionV3 layout, whose weights port one to one: batch norms
without scale (gamma), epsilon 1e-3, 'valid' convolutions in the stem and the grid reductions,
average-pool branches that do not count the padding, no dropout before the classifier.
"""
from tfcls.layers import ClassifierHead, build_branches
from tfcls.models._inception import (InceptionNet, build_stem, inception_v3_aux_head,
                                     inception_pool, keras_auto_pairs, keras_conv)
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import TF_PREPROCESSING

# Variant table: name -> (stem, blocks). A stem step is (filters, kernel[, strides, padding]) or a
# pool; a block is a list of branches (tfcls.layers.build_branches), concatenated in this order.
_V = "valid"


def _block_a(pool_proj):  # 35x35: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg-1x1
    return [[(64, 1)], [(48, 1), (64, 5)], [(64, 1), (96, 3), (96, 3)], ["avg", (pool_proj, 1)]]


def _block_c(width):  # 17x17, factorized 7x7: 1x1 | 1x7-7x1 | 7x1-1x7-7x1-1x7 | avg-1x1
    return [[(192, 1)], [(width, 1), (width, (1, 7)), (192, (7, 1))],
            [(width, 1), (width, (7, 1)), (width, (1, 7)), (width, (7, 1)), (192, (1, 7))],
            ["avg", (192, 1)]]


def _block_e():  # 8x8, expanded: 1x1 | 1x1-(1x3|3x1) | 1x1-3x3-(1x3|3x1) | avg-1x1
    split = [[(384, (1, 3))], [(384, (3, 1))]]
    return [[(320, 1)], [(384, 1), split], [(448, 1), (384, 3), split], ["avg", (192, 1)]]


_STEM = [(32, 3, 2, _V), (32, 3, 1, _V), (64, 3), "max", (80, 1, 1, _V), (192, 3, 1, _V), "max"]
_BLOCKS = [
    ("mixed0", _block_a(32)), ("mixed1", _block_a(64)), ("mixed2", _block_a(64)),
    ("mixed3", [[(384, 3, 2, _V)], [(64, 1), (96, 3), (96, 3, 2, _V)], ["max"]]),
    ("mixed4", _block_c(128)), ("mixed5", _block_c(160)), ("mixed6", _block_c(160)),
    ("mixed7", _block_c(192)),
    ("mixed8", [[(192, 1), (320, 3, 2, _V)],
                [(192, 1), (192, (1, 7)), (192, (7, 1)), (192, 3, 2, _V)], ["max"]]),
    ("mixed9", _block_e()), ("mixed10", _block_e()),
]
VARIANTS = {"inception_v3": Variant(params=23_817_352, arch=dict(stem=_STEM, blocks=_BLOCKS),
                                    resolution=299, min_resolution=75, keras_twin="InceptionV3",
                                    keras_preprocessing=TF_PREPROCESSING)}
# Outputs at strides 2, 4, 8, 16, 32 (timm's feature taps): the third and fifth stem convs,
# mixed2, mixed7, mixed10; the auxiliary head reads mixed7 (17x17 at 299 px).
_FEATURE_TAPS = (2, 5, 9, 14, 17)
_AUX_TAP = 14
# torchvision's auxiliary head (5x5 stride-3 pool, then a 5x5 valid conv) needs mixed7 at 17x17.
AUX_MIN_INPUT_SIZE = 299


class InceptionV3(InceptionNet):
    """Inception-v3: a 5-conv stem with two max-pools, three 35x35 modules, a grid reduction, four
    17x17 modules with factorized 7x7 convolutions, a reduction and two 8x8 expanded modules.

    Args:
      aux_logits: build the auxiliary classifier on mixed7 (torchvision's InceptionAux layout;
        not part of keras' model); ``call(x, training=True)`` then returns ``(logits, aux)``.
      aux_loss_weight: its weight in the training loss (0.3 as GoogLeNet's; TF-slim and
        torchvision's recipes use 0.4).
      drop_rate: dropout before the classifier (keras: none).
    """

    def __init__(self, stem, blocks, num_classes=1000, drop_rate=0.0, aux_logits=False,
                 aux_loss_weight=0.3, global_pool="avg", features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        body = build_stem(stem, keras_conv, inception_pool)
        body += [build_branches(branches, keras_conv, inception_pool, name=name)
                 for name, branches in blocks]
        aux = []
        if aux_logits and self.num_classes:
            aux = [inception_v3_aux_head(self.num_classes, keras_conv, name="aux_head")]
            self.min_input_size = max(self.min_input_size, AUX_MIN_INPUT_SIZE)
        self._set_body(body, _FEATURE_TAPS, aux, (_AUX_TAP,) if aux else (), (aux_loss_weight,) if aux else ())
        self.num_features = 2048
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, name="head")

    def keras_weight_pairs(self, keras_model):
        """(our layer, tf_keras.applications.InceptionV3's layer name), for the weight port."""
        return keras_auto_pairs(self.body, keras_model)


register_family("Inception", "Szegedy et al., 2015 (v3)", InceptionV3, VARIANTS)
