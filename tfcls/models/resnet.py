"""ResNet v1 (He et al., 2015, "Deep Residual Learning for Image Recognition") and v2 / pre-activation
(He et al., 2016, "Identity Mappings in Deep Residual Networks").

ResNet-18/34 follow torchvision. ResNet-50/101/152 (v1 and v2) follow keras.applications, whose
weights port one to one: v1 with biased convolutions and the stride on a stage's first 1x1 conv,
v2 with the stride-2 subsampling in the last block of each stage.
"""
import tensorflow as tf
import tf_keras

from tfcls.layers import (ClassifierHead, ConvNormAct, DropPath, torch_default_init,
                          use_he_conv_init)
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import CAFFE_PREPROCESSING, TF_PREPROCESSING, ImageClassifier

_WIDTHS = (64, 128, 256, 512)


# --- residual blocks (ResNet only) ---------------------------------------------------------------
class _ResidualBlock(tf_keras.layers.Layer):
    """Shared config plumbing of the residual blocks below."""

    def __init__(self, filters, strides=1, project_shortcut=False, drop_path_rate=0.0,
                 norm_eps=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides = int(filters), int(strides)
        self.project_shortcut = bool(project_shortcut)
        self.drop_path_rate, self.norm_eps = float(drop_path_rate), float(norm_eps)
        self.drop_path = DropPath(self.drop_path_rate, name="drop_path")

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides,
                "project_shortcut": self.project_shortcut, "drop_path_rate": self.drop_path_rate,
                "norm_eps": self.norm_eps}


class BasicBlock(_ResidualBlock):
    """Two 3x3 conv-BN pairs plus the (projected) input, then ReLU: ResNet-18/34 as torchvision.

    ``filters`` is the output width; a 1x1 conv + BN projects the shortcut when
    ``project_shortcut`` (stride or width change).
    """

    expansion = 1

    def __init__(self, filters, strides=1, project_shortcut=False, drop_path_rate=0.0,
                 norm_eps=1e-5, **kwargs):
        super().__init__(filters, strides, project_shortcut, drop_path_rate, norm_eps, **kwargs)
        self.conv1 = ConvNormAct(filters, 3, strides, norm_eps=norm_eps, name="conv1")
        self.conv2 = ConvNormAct(filters, 3, 1, act=None, norm_eps=norm_eps, name="conv2")
        self.shortcut = (ConvNormAct(filters, 1, strides, act=None, norm_eps=norm_eps,
                                     name="shortcut") if project_shortcut else None)

    def call(self, x, training=None):
        shortcut = x if self.shortcut is None else self.shortcut(x, training=training)
        x = self.conv2(self.conv1(x, training=training), training=training)
        return tf.nn.relu(shortcut + self.drop_path(x, training=training))

    def zero_init_last(self):
        """The residual branch starts at zero: its last BN's gamma is initialized to 0."""
        self.conv2.bn.gamma_initializer = tf_keras.initializers.Zeros()


class Bottleneck(_ResidualBlock):
    """1x1 reduce -> 3x3 -> 1x1 expand (x4), each with BN, plus the shortcut, then ReLU.

    ``stride_in_1x1=True`` and ``use_bias=True`` give the original (Caffe / keras.applications)
    layout; ``False`` for both gives torchvision's "v1.5". ``filters`` is the bottleneck width.
    """

    expansion = 4

    def __init__(self, filters, strides=1, project_shortcut=False, drop_path_rate=0.0,
                 norm_eps=1e-5, stride_in_1x1=True, use_bias=True, **kwargs):
        super().__init__(filters, strides, project_shortcut, drop_path_rate, norm_eps, **kwargs)
        self.stride_in_1x1, self.use_bias = bool(stride_in_1x1), bool(use_bias)
        s1, s3 = (strides, 1) if stride_in_1x1 else (1, strides)
        common = dict(use_bias=use_bias, norm_eps=norm_eps)
        out = filters * self.expansion
        self.conv1 = ConvNormAct(filters, 1, s1, name="conv1", **common)
        self.conv2 = ConvNormAct(filters, 3, s3, name="conv2", **common)
        self.conv3 = ConvNormAct(out, 1, 1, act=None, name="conv3", **common)
        self.shortcut = (ConvNormAct(out, 1, strides, act=None, name="shortcut", **common)
                         if project_shortcut else None)

    def call(self, x, training=None):
        shortcut = x if self.shortcut is None else self.shortcut(x, training=training)
        x = self.conv1(x, training=training)
        x = self.conv3(self.conv2(x, training=training), training=training)
        return tf.nn.relu(shortcut + self.drop_path(x, training=training))

    def zero_init_last(self):
        """The residual branch starts at zero: its last BN's gamma is initialized to 0."""
        self.conv3.bn.gamma_initializer = tf_keras.initializers.Zeros()

    def get_config(self):
        return {**super().get_config(), "stride_in_1x1": self.stride_in_1x1,
                "use_bias": self.use_bias}


class PreActBottleneck(_ResidualBlock):
    """Pre-activation bottleneck (ResNet v2), keras.applications layout: BN-ReLU first, shared by
    the residual branch and a projected shortcut; 1x1 -> 3x3 (strided) -> 1x1 with bias, no
    activation after the add. An unprojected strided shortcut is a 1x1 max-pool (subsampling)."""

    expansion = 4

    def __init__(self, filters, strides=1, project_shortcut=False, drop_path_rate=0.0,
                 norm_eps=1.001e-5, **kwargs):
        super().__init__(filters, strides, project_shortcut, drop_path_rate, norm_eps, **kwargs)
        out = filters * self.expansion
        self.preact = tf_keras.layers.BatchNormalization(epsilon=norm_eps, momentum=0.9,
                                                         name="preact_bn")
        self.conv1 = ConvNormAct(filters, 1, 1, norm_eps=norm_eps, name="conv1")
        self.conv2 = ConvNormAct(filters, 3, strides, norm_eps=norm_eps, name="conv2")
        self.conv3 = ConvNormAct(out, 1, 1, use_bias=True, norm=None, act=None, name="conv3")
        self.shortcut = (ConvNormAct(out, 1, strides, use_bias=True, norm=None, act=None,
                                     name="shortcut") if project_shortcut else None)

    def call(self, x, training=None):
        preact = tf.nn.relu(self.preact(x, training=training))
        if self.shortcut is not None:
            shortcut = self.shortcut(preact, training=training)
        elif self.strides > 1:
            shortcut = x[:, ::self.strides, ::self.strides, :]
        else:
            shortcut = x
        x = self.conv1(preact, training=training)
        x = self.conv3(self.conv2(x, training=training), training=training)
        return shortcut + self.drop_path(x, training=training)

    def zero_init_last(self):
        """The residual branch starts at zero: its last conv (no BN follows it in v2) is
        initialized to 0, as timm's ``zero_init_last`` for pre-activation blocks."""
        self.conv3.conv.kernel_initializer = tf_keras.initializers.Zeros()


def _keras_v1(params, depths, keras_twin):
    return Variant(params=params, arch=dict(block=Bottleneck, layers=depths),
                   keras_twin=keras_twin, keras_preprocessing=CAFFE_PREPROCESSING)


def _keras_v2(params, depths, keras_twin):
    return Variant(params=params, arch=dict(block=PreActBottleneck, layers=depths, preact=True),
                   keras_twin=keras_twin, keras_preprocessing=TF_PREPROCESSING)


# arch: block, blocks per stage, preact (v2), torchvision layout.
VARIANTS = {
    "resnet18": Variant(params=11_689_512, reference="torchvision.models.resnet18",
                        arch=dict(block=BasicBlock, layers=(2, 2, 2, 2), torchvision=True),
                        timm_twin="timm/resnet18.a1_in1k",
                        torchvision_twin="resnet18 IMAGENET1K_V1"),
    "resnet34": Variant(params=21_797_672, reference="torchvision.models.resnet34",
                        arch=dict(block=BasicBlock, layers=(3, 4, 6, 3), torchvision=True),
                        timm_twin="timm/resnet34.a1_in1k",
                        torchvision_twin="resnet34 IMAGENET1K_V1"),
    "resnet50": _keras_v1(25_583_592, (3, 4, 6, 3), "ResNet50"),
    "resnet101": _keras_v1(44_601_832, (3, 4, 23, 3), "ResNet101"),
    "resnet152": _keras_v1(60_268_520, (3, 8, 36, 3), "ResNet152"),
    "resnet50_v2": _keras_v2(25_568_360, (3, 4, 6, 3), "ResNet50V2"),
    "resnet101_v2": _keras_v2(44_577_896, (3, 4, 23, 3), "ResNet101V2"),
    "resnet152_v2": _keras_v2(60_236_904, (3, 8, 36, 3), "ResNet152V2"),
}


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

    drop_path_rule = "linear"

    def __init__(self, block, layers, preact=False, torchvision=False, stride_in_1x1=True,
                 num_classes=1000, drop_rate=0.0, drop_path_rate=0.0, global_pool="avg",
                 zero_init_last=False, features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        eps = 1e-5 if torchvision else 1.001e-5
        self.stem = ConvNormAct(64, 7, 2, use_bias=not torchvision, norm_eps=eps,
                                norm=None if preact else "batch", act=None if preact else "relu",
                                name="stem")
        self.stem_pool = tf_keras.layers.MaxPooling2D(3, 2, padding="valid", name="stem_pool")
        self.blocks, self.block_positions = self._make_blocks(block, layers, preact, torchvision,
                                                              stride_in_1x1, eps)
        self.apply_drop_path_rule(self.blocks, drop_path_rate)
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
    def _make_blocks(block, layers, preact, torchvision, stride_in_1x1, eps):
        """The blocks and their (stage, index in stage) positions, from 0."""
        extra = {} if block is not Bottleneck else dict(stride_in_1x1=stride_in_1x1,
                                                        use_bias=not torchvision)
        blocks, positions, in_width = [], [], 64
        for stage, (width, depth) in enumerate(zip(_WIDTHS, layers)):
            for index in range(depth):
                if preact:  # keras v2: project in the first block, subsample in the last
                    last_stage = stage == len(layers) - 1
                    strides = 2 if index == depth - 1 and not last_stage else 1
                    project = index == 0
                else:
                    strides = 2 if index == 0 and stage > 0 else 1
                    project = index == 0 and (strides != 1 or in_width != width * block.expansion)
                blocks.append(block(width, strides, project, norm_eps=eps,
                                    name=f"stage{stage + 1}_block{index + 1}", **extra))
                positions.append((stage, index))
                in_width = width * block.expansion
        return blocks, tuple(positions)

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
        for (stage, index), block in zip(self.block_positions, self.blocks):
            prefix = f"conv{stage + 2}_block{index + 1}"
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


register_family("ResNet", "He et al., 2015 (v1), 2016 (v2)", ResNet, VARIANTS)
