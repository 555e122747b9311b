"""VGG (Simonyan & Zisserman, 2014, "Very Deep Convolutional Networks for Large-Scale Image
Recognition"), torchvision layout (= keras.applications VGG16/19 for the plain variants): 3x3
convolutions with bias, optional batch norm, 2x2 max-pools, an adaptive 7x7 pool and a
4096-4096 MLP classifier, so that any input from 32 px up works."""
import tf_keras

from tfcls.layers import ConvNormAct, MlpClassifierHead, use_he_conv_init
from tfcls.models._registration import register_family, torchvision_variant
from tfcls.models.base import CAFFE_PREPROCESSING, ImageClassifier

_WIDTHS = (64, 128, 256, 512, 512)
_DEPTHS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
_KERAS = dict(keras_preprocessing=CAFFE_PREPROCESSING)  # VGG16/19 (no batch norm)


def _tv(builder, params, **row):  # timm keeps torchvision's files as tv_in1k
    return torchvision_variant(builder, params, "tv_in1k", **row)


VARIANTS = {
    "vgg11": _tv("vgg11", 132_863_336, arch=dict(depth=11)),
    "vgg13": _tv("vgg13", 133_047_848, arch=dict(depth=13)),
    "vgg16": _tv("vgg16", 138_357_544, arch=dict(depth=16), keras_twin="VGG16",
                 **_KERAS),
    "vgg19": _tv("vgg19", 143_667_240, arch=dict(depth=19), keras_twin="VGG19",
                 **_KERAS),
    "vgg11_bn": _tv("vgg11_bn", 132_868_840, arch=dict(depth=11, batch_norm=True)),
    "vgg13_bn": _tv("vgg13_bn", 133_053_736, arch=dict(depth=13, batch_norm=True)),
    "vgg16_bn": _tv("vgg16_bn", 138_365_992, arch=dict(depth=16, batch_norm=True)),
    "vgg19_bn": _tv("vgg19_bn", 143_678_248, arch=dict(depth=19, batch_norm=True)),
}


class VGG(ImageClassifier):
    """VGG-``depth`` with (``batch_norm=True``) or without batch norm after each convolution.

    Args:
      depth: 11, 13, 16 or 19 weight layers.
      drop_rate: dropout after each hidden fully-connected layer (0.5 in the paper).

    Initialization follows torchvision: convolutions He fan-out normal (He et al., 2015), the
    fully-connected layers normal with std 0.01, biases zero.
    """

    def __init__(self, depth, batch_norm=False, num_classes=1000, drop_rate=0.5,
                 features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        if depth not in _DEPTHS:
            raise ValueError(f"VGG depth must be one of {sorted(_DEPTHS)}, got {depth}.")
        self.stages = []  # per stage: its convolutions, then the 2x2 max-pool
        for stage, (width, count) in enumerate(zip(_WIDTHS, _DEPTHS[depth])):
            self.stages.append([
                ConvNormAct(width, 3, 1, use_bias=True, norm="batch" if batch_norm else None,
                            name=f"stage{stage + 1}_conv{index + 1}")
                for index in range(count)])
            self.stages[-1].append(tf_keras.layers.MaxPooling2D(2, 2, name=f"stage{stage + 1}_pool"))
        self.num_features = _WIDTHS[-1]
        if not features_only:
            self.head = MlpClassifierHead(self.num_classes, (4096, 4096), 7, drop_rate,
                                          name="head")
        use_he_conv_init(self)
        for dense in (self.head.hidden + [self.head.fc]) if self.head is not None else ():
            if dense is not None:
                dense.kernel_initializer = tf_keras.initializers.RandomNormal(stddev=0.01)

    def forward_stages(self, x, training=None):
        features = []
        for stage in self.stages:
            for conv in stage[:-1]:
                x = conv(x, training=training)
            x = stage[-1](x)
            features.append(x)  # strides 2, 4, 8, 16, 32
        return features

    def keras_weight_pairs(self):
        """(our layer, its tf_keras.applications twin's layer name), for the weight port."""
        pairs = []
        for stage_index, stage in enumerate(self.stages):
            for conv_index, conv in enumerate(stage[:-1]):
                if conv.bn is not None:
                    raise ValueError("keras.applications has no VGG with batch norm to port from.")
                pairs.append((conv.conv, f"block{stage_index + 1}_conv{conv_index + 1}"))
        if self.head is not None:
            pairs += [(dense, f"fc{i + 1}") for i, dense in enumerate(self.head.hidden)]
        return pairs

    def torch_weight_pairs(self, source="timm"):
        """(our layer, its timm / torchvision twin's module name). Both number ``features`` as
        torch.nn.Sequential does (conv, [bn], relu per conv; a pool per stage). torchvision's
        first fully-connected layer flattens its 7x7 input channel-first, timm's is a 7x7 conv:
        both become our Dense on the channel-last flattened map."""
        pairs, index = [], 0
        for stage in self.stages:
            for conv in stage[:-1]:
                pairs.append((conv, (f"features.{index}", f"features.{index + 1}")))
                index += 3 if conv.bn is not None else 2
            index += 1  # the max-pool
        hidden = self.head.hidden if self.head is not None else []
        names = (["pre_logits.fc1", "pre_logits.fc2", "head.fc"] if source == "timm" else
                 ["classifier.0", "classifier.3", "classifier.6"])
        if not hidden:  # pooled features only: the MLP is not built
            return pairs + [(None, name) for name in names]
        channels = self.num_features
        grid = self.head.pool_size
        if source == "timm":
            def to_hwc(w):
                return w.transpose(0, 2, 3, 1)
        else:
            def to_hwc(w):
                return w.reshape(-1, channels, grid, grid).transpose(0, 2, 3, 1)
        return pairs + [(hidden[0], names[0], to_hwc), (hidden[1], names[1]),
                        (self.classifier_layer, names[2])]


register_family("VGG", "Simonyan & Zisserman, 2014", VGG, VARIANTS)
