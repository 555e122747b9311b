"""Inception-v1 / GoogLeNet (Szegedy et al., 2014, "Going Deeper with Convolutions"), the
torchvision layout: a batch norm (epsilon 1e-3) after every convolution, max-pools that keep the
last partial window (``ceil_mode=True``), and torchvision's quirk of a 3x3 convolution in the
branch the paper draws as 5x5. The two auxiliary classifiers (on inception4a and inception4d) are
optional and off by default; the reference parameter count is without them.
"""
import tf_keras

from tfcls.layers import CeilMaxPool2D, ClassifierHead, build_branches
from tfcls.models._inception import (InceptionNet, build_stem, googlenet_aux_head,
                                     torch_branch_pairs, torch_conv, torch_conv_pair)
from tfcls.models._registration import Variant, register_family


def _module(c1, r3, c3, r5, c5, pool_proj):
    """1x1 | 1x1-3x3 | 1x1-"5x5" (3x3 in torchvision) | 3x3 max-pool-1x1."""
    return [[(c1, 1)], [(r3, 1), (c3, 3)], [(r5, 1), (c5, 3)], ["max_s1", (pool_proj, 1)]]


# Variant table: the stem, then the Inception modules and grid pools in order.
_STEM = [(64, 7, 2), "max", (64, 1), (192, 3), "max"]
_BLOCKS = [
    ("inception3a", _module(64, 96, 128, 16, 32, 32)),
    ("inception3b", _module(128, 128, 192, 32, 96, 64)), ("pool3", "max"),
    ("inception4a", _module(192, 96, 208, 16, 48, 64)),
    ("inception4b", _module(160, 112, 224, 24, 64, 64)),
    ("inception4c", _module(128, 128, 256, 24, 64, 64)),
    ("inception4d", _module(112, 144, 288, 32, 64, 64)),
    ("inception4e", _module(256, 160, 320, 32, 128, 128)), ("pool4", "max_2x2"),
    ("inception5a", _module(256, 160, 320, 32, 128, 128)),
    ("inception5b", _module(384, 192, 384, 48, 128, 128)),
]
VARIANTS = {"inception_v1": Variant(params=6_624_904, arch=dict(stem=_STEM, blocks=_BLOCKS),
                                    reference="torchvision.models.googlenet(aux_logits=False)",
                                    torchvision_twin="googlenet IMAGENET1K_V1")}
# Body layers whose outputs are the stride 2, 4, 8, 16, 32 maps (conv1, conv3, inception3b,
# inception4e, inception5b), and the ones the auxiliary heads read (inception4a, inception4d).
_FEATURE_TAPS = (0, 3, 6, 12, 15)
_AUX_TAPS = (8, 11)
# torchvision initializes convolutions and linears from a normal with std 0.01, truncated at +-2
# (= 200 std: effectively untruncated); keras truncates at 2 std, close enough for training.
_INIT = {"class_name": "TruncatedNormal", "config": {"stddev": 0.01}}


def _conv(filters, kernel, strides=1, padding=None, name=None):
    return torch_conv(filters, kernel, strides, padding, name=name, kernel_initializer=_INIT)


def _pool(kind, name=None):
    if kind == "max_s1":  # stride-1 3x3 max-pool padded by 1 (ceil_mode has no effect)
        return tf_keras.layers.MaxPooling2D(3, 1, padding="same", name=name)
    return CeilMaxPool2D(2 if kind == "max_2x2" else 3, 2, name=name)


class InceptionV1(InceptionNet):
    """GoogLeNet: 7x7 stride-2 stem conv, 1x1 and 3x3 convs, nine Inception modules in three
    groups separated by max-pools, global average pool, dropout 0.2, linear.

    Args:
      aux_logits: build the two auxiliary classifiers; ``call(x, training=True)`` then returns
        ``(logits, aux1, aux2)``, weighted 0.3 each in the loss (as in the paper).
      drop_rate: dropout before the classifier (torchvision: 0.2); aux_drop_rate: in the
        auxiliary heads (0.7).
    """

    def __init__(self, stem, blocks, num_classes=1000, drop_rate=0.2, aux_drop_rate=0.7,
                 aux_logits=False, global_pool="avg", features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        body = build_stem(stem, _conv, _pool)
        body += [_pool(spec, name=name) if isinstance(spec, str) else
                 build_branches(spec, _conv, _pool, name=name) for name, spec in blocks]
        aux = []
        if aux_logits and self.num_classes:
            aux = [googlenet_aux_head(self.num_classes, _conv, f"aux_head{i + 1}", aux_drop_rate)
                   for i in range(len(_AUX_TAPS))]
        self._set_body(body, _FEATURE_TAPS, aux, _AUX_TAPS if aux else (),
                       (0.3,) * len(aux))
        self.num_features = 1024
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, name="head")

    def torch_weight_pairs(self, source="torchvision"):
        """(our layer, its torchvision GoogLeNet twin's module name): the stem convs are
        ``conv1``..``conv3``, the modules keep their names, the auxiliary heads are ``aux1``/
        ``aux2`` (skipped when we build none) and the classifier ``fc``."""
        stem_convs = [layer for layer in self.body[:5] if hasattr(layer, "conv")]
        pairs = [torch_conv_pair(conv, f"conv{i + 1}") for i, conv in enumerate(stem_convs)]
        for layer in self.body[5:]:
            if hasattr(layer, "branches"):
                pairs += torch_branch_pairs(layer, layer.name, first=1)
        for index in range(len(_AUX_TAPS)):
            name = f"aux{index + 1}"
            if index >= len(self.aux_heads):
                pairs.append((None, name))
                continue
            _, conv, _, fc1, _ = self.aux_heads[index].body
            pairs += [torch_conv_pair(conv, f"{name}.conv"), (fc1, f"{name}.fc1", _chw_to_hwc),
                      (self.aux_heads[index].fc, f"{name}.fc2")]
        return pairs + [(self.classifier_layer, "fc")]


def _chw_to_hwc(weight):
    """torch flattens the auxiliary head's 128 x 4 x 4 map channel-first, we channel-last."""
    return weight.reshape(-1, 128, 4, 4).transpose(0, 2, 3, 1)


register_family("Inception", "Szegedy et al., 2014 (v1, GoogLeNet)", InceptionV1, VARIANTS)
