"""ConvNeXt (Liu et al., 2022, "A ConvNet for the 2020s").

keras.applications' ConvNeXt twins (= timm / the official layout), whose weights port one to one:
a 4x4 stride-4 patchify stem with LayerNorm, four stages of blocks (7x7 depthwise conv ->
LayerNorm -> Linear 4x -> GELU -> Linear -> layer scale -> drop path, residual) joined by
LayerNorm + 2x2 stride-2 convolutions, then global average pooling -> LayerNorm -> classifier.
LayerNorm epsilon 1e-6, layer scale initialized to 1e-6, drop path linear in depth, kernels
truncated-normal(0.02) with zero biases as the official code. keras normalizes inside the model
(a Normalization layer with ImageNet's mean/std on [0, 255] pixels); tfcls does not, the same
mean/std are recorded as the keras preprocessing.
"""
import tensorflow as tf
import tf_keras

from tfcls.layers import ClassifierHead, DropPath, FastDepthwiseConv2D, LayerScale
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import TORCH_PREPROCESSING, ImageClassifier


def _twin(keras_twin, timm_name, params, depths, widths):
    """A row whose weights come from keras' ``keras_twin`` or timm's ``timm_name`` (pre-trained on
    ImageNet-22k, fine-tuned on 1k); arch: blocks per stage, widths of the four stages."""
    return Variant(params=params, arch=dict(depths=depths, widths=widths), keras_twin=keras_twin,
                   keras_preprocessing=TORCH_PREPROCESSING,
                   timm_twin=f"timm/{timm_name}.fb_in22k_ft_in1k")


_DEEP = (3, 3, 27, 3)
VARIANTS = {
    "convnext_tiny": _twin("ConvNeXtTiny", "convnext_tiny", 28_589_128, (3, 3, 9, 3),
                           (96, 192, 384, 768)),
    "convnext_small": _twin("ConvNeXtSmall", "convnext_small", 50_223_688, _DEEP,
                            (96, 192, 384, 768)),
    "convnext_base": _twin("ConvNeXtBase", "convnext_base", 88_591_464, _DEEP,
                           (128, 256, 512, 1024)),
    "convnext_large": _twin("ConvNeXtLarge", "convnext_large", 197_767_336, _DEEP,
                            (192, 384, 768, 1536)),
    "convnext_xlarge": _twin("ConvNeXtXLarge", "convnext_xlarge", 350_196_968, _DEEP,
                             (256, 512, 1024, 2048)),
}
_LN_EPS = 1e-6


def _init():
    """The official code's trunc_normal_(std=0.02), a fresh instance per layer."""
    return tf_keras.initializers.TruncatedNormal(stddev=0.02)


def _layer_norm(name):
    return tf_keras.layers.LayerNormalization(epsilon=_LN_EPS, name=name)


class ConvNeXtBlock(tf_keras.layers.Layer):
    """x + drop_path(layer_scale(pwconv2(gelu(pwconv1(norm(dwconv7x7(x)))))))."""

    def __init__(self, drop_path_rate=0.0, layer_scale_init=1e-6, kernel_size=7, **kwargs):
        super().__init__(**kwargs)
        self.drop_path_rate, self.layer_scale_init = drop_path_rate, layer_scale_init
        self.kernel_size = kernel_size
        self.dwconv = FastDepthwiseConv2D(kernel_size, padding="same",
                                          depthwise_initializer=_init(), name="dwconv")
        self.norm = _layer_norm("norm")
        self.layer_scale = LayerScale(layer_scale_init, name="layer_scale")
        self.drop_path = DropPath(drop_path_rate, name="drop_path")

    def build(self, input_shape):
        width = int(input_shape[-1])
        self.pwconv1 = tf_keras.layers.Dense(4 * width, kernel_initializer=_init(), name="pwconv1")
        self.pwconv2 = tf_keras.layers.Dense(width, kernel_initializer=_init(), name="pwconv2")
        super().build(input_shape)

    def call(self, x, training=None):
        y = self.norm(self.dwconv(x))
        y = self.pwconv2(tf.nn.gelu(self.pwconv1(y), approximate=False))
        return x + self.drop_path(self.layer_scale(y), training=training)

    def get_config(self):
        return {**super().get_config(), "drop_path_rate": self.drop_path_rate,
                "layer_scale_init": self.layer_scale_init, "kernel_size": self.kernel_size}


class ConvNeXt(ImageClassifier):
    """ConvNeXt with ``depths`` blocks and ``widths`` channels in its four stages.

    Args:
      layer_scale_init: initial layer scale (1e-6).
      drop_rate: dropout before the classifier; drop_path_rate: stochastic depth of the last
        block, linear in depth from 0.
      keras_prefix: the keras twin's layer-name prefix (default: our name, e.g. "convnext_tiny").
    """

    drop_path_rule = "linear"

    def __init__(self, depths, widths, layer_scale_init=1e-6, num_classes=1000, drop_rate=0.0,
                 drop_path_rate=0.0, global_pool="avg", features_only=False, keras_prefix=None,
                 **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        self.keras_prefix = keras_prefix or self.name
        self.stem_conv = tf_keras.layers.Conv2D(widths[0], 4, 4, kernel_initializer=_init(),
                                                name="stem_conv")
        self.stem_norm = _layer_norm("stem_norm")
        self.downsamples = [
            (_layer_norm(f"stage{index + 1}_downsample_norm"),
             tf_keras.layers.Conv2D(width, 2, 2, kernel_initializer=_init(),
                                    name=f"stage{index + 1}_downsample_conv"))
            for index, width in enumerate(widths) if index > 0]
        self.stages = [[ConvNeXtBlock(layer_scale_init=layer_scale_init,
                                      name=f"stage{index + 1}_block{block + 1}")
                        for block in range(depth)] for index, depth in enumerate(depths)]
        self.apply_drop_path_rule([block for stage in self.stages for block in stage],
                                  drop_path_rate)
        self.num_features = widths[-1]
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, norm="layer",
                                       norm_eps=_LN_EPS, name="head")
            if self.head.fc is not None:
                self.head.fc.kernel_initializer = _init()

    def forward_stages(self, x, training=None):
        x = self.stem_norm(self.stem_conv(x))
        features = []
        for index, stage in enumerate(self.stages):
            if index > 0:
                features.append(x)  # strides 4, 8, 16
                norm, conv = self.downsamples[index - 1]
                x = conv(norm(x))
            for block in stage:
                x = block(x, training=training)
        features.append(x)  # stride 32
        return features

    def keras_weight_pairs(self):
        """(our layer, keras twin's layer name[, transform]), for the weight port. keras keeps the
        stem and downsampling layers in nested Sequentials: [conv kernel, bias, norm gamma, beta]
        and [norm gamma, beta, conv kernel, bias]."""
        prefix = self.keras_prefix
        first, last = (lambda values: values[:2]), (lambda values: values[2:])
        pairs = [(self.stem_conv, f"{prefix}_stem", first),
                 (self.stem_norm, f"{prefix}_stem", last)]
        for index, stage in enumerate(self.stages):
            if index > 0:
                norm, conv = self.downsamples[index - 1]
                name = f"{prefix}_downsampling_block_{index - 1}"
                pairs += [(norm, name, first), (conv, name, last)]
            for number, block in enumerate(stage):
                name = f"{prefix}_stage_{index}_block_{number}"
                pairs += [(block.dwconv, f"{name}_depthwise_conv", _grouped_to_depthwise),
                          (block.norm, f"{name}_layernorm"),
                          (block.pwconv1, f"{name}_pointwise_conv_1"),
                          (block.pwconv2, f"{name}_pointwise_conv_2"),
                          (block.layer_scale, f"{name}_layer_scale")]
        if self.head is not None:
            pairs.append((self.head.norm, f"{prefix}_head_layernorm"))
            if self.num_classes == 1000:  # keras' classifier is named {prefix}_head_dense
                pairs.append((self.head.fc, f"{prefix}_head_dense"))
        return pairs


    def torch_weight_pairs(self, source="timm"):
        """(our layer, its timm twin's module name): ``stem`` = (conv, LayerNorm),
        ``stages.{i}.downsample`` = (LayerNorm, conv) from the second stage on, a block's
        ``conv_dw``, ``norm``, ``mlp.fc1``/``fc2`` and layer scale ``gamma``, ``head.norm`` and
        ``head.fc``."""
        pairs = [(self.stem_conv, "stem.0"), (self.stem_norm, "stem.1")]
        for index, stage in enumerate(self.stages):
            if index > 0:
                norm, conv = self.downsamples[index - 1]
                pairs += [(norm, f"stages.{index}.downsample.0"),
                          (conv, f"stages.{index}.downsample.1")]
            for number, block in enumerate(stage):
                prefix = f"stages.{index}.blocks.{number}"
                pairs += [(block.dwconv, f"{prefix}.conv_dw"), (block.norm, f"{prefix}.norm"),
                          (block.pwconv1, f"{prefix}.mlp.fc1"),
                          (block.pwconv2, f"{prefix}.mlp.fc2"),
                          (block.layer_scale, prefix)]
        head_norm = self.head.norm if self.head is not None else None
        return pairs + [(head_norm, "head.norm"), (self.classifier_layer, "head.fc")]


def _grouped_to_depthwise(values):
    """keras' ConvNeXt uses a Conv2D with groups=channels: kernel (k, k, 1, C) -> (k, k, C, 1)."""
    kernel, bias = values
    return [kernel.transpose(0, 1, 3, 2), bias]


register_family("ConvNeXt", "Liu et al., 2022", ConvNeXt, VARIANTS)
