"""ResNet v1 (He et al., 2015, "Deep Residual Learning for Image Recognition") and v2 / pre-activation
(He et al., 2016, "Identity Mappings in Deep Residual Networks").

ResNet-18/34 follow torchvision. ResNet-50/101/152 (v1 and v2) follow keras.applications, whose
weights port one to one: v1 with biased convolutions and the stride on a stage's first 1x1 conv,
v2 with the stride-2 subsampling in the last block of each stage.
"""
import tensorflow as tf
import tf_keras

from tfcls.layers import (BasicBlock, Bottleneck, ClassifierHead, ConvNormAct, PreActBottleneck,
                          torch_default_init, use_he_conv_init)
from tfcls.models._registration import CAFFE_PREPROCESSING, TF_PREPROCESSING, registrar
from tfcls.models.base import ImageClassifier, linear_drop_path_rates

register = registrar("ResNet", "He et al., 2015 (v1), 2016 (v2)")

# name: (block, blocks per stage, preact, torchvision layout)
_CONFIGS = {
    "resnet18": (BasicBlock, (2, 2, 2, 2), False, True),
    "resnet34": (BasicBlock, (3, 4, 6, 3), False, True),
    "resnet50": (Bottleneck, (3, 4, 6, 3), False, False),
    "resnet101": (Bottleneck, (3, 4, 23, 3), False, False),
    "resnet152": (Bottleneck, (3, 8, 36, 3), False, False),
    "resnet50_v2": (PreActBottleneck, (3, 4, 6, 3), True, False),
    "resnet101_v2": (PreActBottleneck, (3, 4, 23, 3), True, False),
    "resnet152_v2": (PreActBottleneck, (3, 8, 36, 3), True, False),
}
_WIDTHS = (64, 128, 256, 512)


class ResNet(ImageClassifier):
    """ResNet v1 / v2: a 7x7 stride-2 stem, a 3x3 stride-2 max-pool and four stages of residual
    blocks, then global average pooling and a linear classifier.

    Args:
      block: ``BasicBlock``, ``Bottleneck`` or ``PreActBottleneck``.
      layers: number of blocks in each of the four stages.
      preact: v2 layout (stem conv without norm, a final BN-ReLU, downsampling at stage ends).
      torchvision: convolutions without bias, BN epsilon 1e-5 (else keras: bias, epsilon 1.001e-5).
      stride_in_1x1: for v1 bottlenecks, put the stride on the 1x1 conv (keras) or the 3x3 (v1.5).
      drop_rate: dropout before the classifier; drop_path_rate: stochastic depth of the last block.
      zero_init_last: start each residual branch at zero (its last BN's gamma, or v2's last conv),
        as Goyal et al. (2017) and torchvision's ``zero_init_residual``; off by default.

    Initialization follows the papers and torchvision (He et al., 2015: normal, variance
    2 / fan_out, for every conv; PyTorch's default uniform init for the classifier), not keras'
    glorot-uniform default, whatever the layout.
    """

    def __init__(self, block, layers, preact=False, torchvision=False, stride_in_1x1=True,
                 num_classes=1000, drop_rate=0.0, drop_path_rate=0.0, global_pool="avg",
                 zero_init_last=False, features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        eps = 1e-5 if torchvision else 1.001e-5
        self.stem = ConvNormAct(64, 7, 2, use_bias=not torchvision, norm_eps=eps,
                                norm=None if preact else "batch", act=None if preact else "relu",
                                name="stem")
        self.stem_pool = tf_keras.layers.MaxPooling2D(3, 2, padding="valid", name="stem_pool")
        self.blocks = self._make_blocks(block, layers, preact, torchvision, stride_in_1x1, eps,
                                        drop_path_rate)
        self.post_norm = (tf_keras.layers.BatchNormalization(epsilon=eps, momentum=0.9,
                                                             name="post_norm") if preact else None)
        self.num_features = _WIDTHS[-1] * block.expansion
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, name="head")
        self._init_weights(zero_init_last)

    def _init_weights(self, zero_init_last):
        use_he_conv_init(self)
        if zero_init_last:
            for block in self.blocks:
                block.zero_init_last()
        if self.head is not None and self.head.fc is not None:
            for attr, init in torch_default_init(self.num_features).items():
                setattr(self.head.fc, attr, init)

    @staticmethod
    def _make_blocks(block, layers, preact, torchvision, stride_in_1x1, eps, drop_path_rate):
        rates = iter(linear_drop_path_rates(drop_path_rate, sum(layers)))
        extra = {} if block is not Bottleneck else dict(stride_in_1x1=stride_in_1x1,
                                                        use_bias=not torchvision)
        blocks, in_width = [], 64
        for stage, (width, depth) in enumerate(zip(_WIDTHS, layers)):
            for index in range(depth):
                if preact:  # keras v2: project in the first block, subsample in the last
                    last_stage = stage == len(layers) - 1
                    strides = 2 if index == depth - 1 and not last_stage else 1
                    project = index == 0
                else:
                    strides = 2 if index == 0 and stage > 0 else 1
                    project = index == 0 and (strides != 1 or in_width != width * block.expansion)
                blocks.append(block(width, strides, project, next(rates), norm_eps=eps,
                                    name=f"stage{stage + 1}_block{index + 1}", **extra))
                in_width = width * block.expansion
        return blocks

    def forward_stages(self, x, training=None):
        x = self.stem(x, training=training)
        features = [x]  # stride 2
        x = self.stem_pool(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]))
        for block in self.blocks:
            if block.strides > 1:
                features.append(x)  # the map at each stride, just before it is halved
            x = block(x, training=training)
        if self.post_norm is not None:
            x = tf.nn.relu(self.post_norm(x, training=training))
        features.append(x)
        return features

    def keras_weight_pairs(self):
        """(our layer, its tf_keras.applications twin's layer name), for the weight port."""
        preact = self.post_norm is not None
        pairs = _conv_norm_pairs(self.stem, "conv1")
        for block in self.blocks:
            stage, index = block.name.replace("stage", "").split("_block")
            prefix = f"conv{int(stage) + 1}_block{index}"
            if preact:
                pairs.append((block.preact, f"{prefix}_preact_bn"))
            for number, conv in enumerate([block.shortcut, block.conv1, block.conv2, block.conv3]):
                if conv is not None:
                    pairs += _conv_norm_pairs(conv, f"{prefix}_{number}")
        if preact:
            pairs.append((self.post_norm, "post_bn"))
        return pairs

    def torch_weight_pairs(self, source="timm"):
        """(our layer, its timm / torchvision twin's module name): ResNet-18/34, whose layout
        (unbiased convolutions, the stride in the 3x3) is torchvision's and timm's alike."""
        if self.post_norm is not None or self.stem.use_bias:
            raise ValueError(f"{self.name} follows keras' layout (biased convolutions, the stride "
                             f"in the 1x1), not torch's: port its keras weights instead.")
        pairs = [(self.stem, ("conv1", "bn1"))]
        for block in self.blocks:
            stage, index = block.name.replace("stage", "").split("_block")
            prefix = f"layer{stage}.{int(index) - 1}"
            pairs += [(block.conv1, (f"{prefix}.conv1", f"{prefix}.bn1")),
                      (block.conv2, (f"{prefix}.conv2", f"{prefix}.bn2"))]
            if block.shortcut is not None:
                pairs.append((block.shortcut, (f"{prefix}.downsample.0", f"{prefix}.downsample.1")))
        return pairs + [(self.classifier_layer, "fc")]


def _conv_norm_pairs(ours, prefix):
    """(our layer, keras layer name) for a ConvNormAct whose keras twins are prefix_conv/_bn."""
    pairs = [(ours.conv, f"{prefix}_conv")]
    if ours.bn is not None:
        pairs.append((ours.bn, f"{prefix}_bn"))
    return pairs


def _create(name, **kwargs):
    block, layers, preact, torchvision = _CONFIGS[name]
    return ResNet(block, layers, preact=preact, torchvision=torchvision, name=name, **kwargs)


@register(params=11_689_512, reference="torchvision.models.resnet18")
def resnet18(**kwargs):
    return _create("resnet18", **kwargs)


@register(params=21_797_672, reference="torchvision.models.resnet34")
def resnet34(**kwargs):
    return _create("resnet34", **kwargs)


@register(params=25_583_592, reference="tf_keras.applications.ResNet50", keras="ResNet50",
          keras_preprocessing=CAFFE_PREPROCESSING)
def resnet50(**kwargs):
    return _create("resnet50", **kwargs)


@register(params=44_601_832, reference="tf_keras.applications.ResNet101", keras="ResNet101",
          keras_preprocessing=CAFFE_PREPROCESSING)
def resnet101(**kwargs):
    return _create("resnet101", **kwargs)


@register(params=60_268_520, reference="tf_keras.applications.ResNet152", keras="ResNet152",
          keras_preprocessing=CAFFE_PREPROCESSING)
def resnet152(**kwargs):
    return _create("resnet152", **kwargs)


@register(params=25_568_360, reference="tf_keras.applications.ResNet50V2", keras="ResNet50V2",
          keras_preprocessing=TF_PREPROCESSING)
def resnet50_v2(**kwargs):
    return _create("resnet50_v2", **kwargs)


@register(params=44_577_896, reference="tf_keras.applications.ResNet101V2", keras="ResNet101V2",
          keras_preprocessing=TF_PREPROCESSING)
def resnet101_v2(**kwargs):
    return _create("resnet101_v2", **kwargs)


@register(params=60_236_904, reference="tf_keras.applications.ResNet152V2", keras="ResNet152V2",
          keras_preprocessing=TF_PREPROCESSING)
def resnet152_v2(**kwargs):
    return _create("resnet152_v2", **kwargs)
