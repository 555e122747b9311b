"""DenseNet (Huang et al., 2017, "Densely Connected Convolutional Networks").

DenseNet-121/169/201 are keras.applications' twins (= torchvision's layout, batch-norm epsilon
1.001e-5, glorot-uniform kernels), whose ImageNet weights port one to one. DenseNet-161 follows
torchvision (growth 48, a 96-wide stem, epsilon 1e-5, He-normal kernels). A 7x7 stride-2 stem with
BN-ReLU and a 3x3 stride-2 max-pool, four dense blocks (BN-ReLU-1x1-BN-ReLU-3x3 layers, each
concatenating ``growth_rate`` channels) joined by BN-ReLU-1x1-avgpool transitions halving the
width, then a final BN-ReLU. ``memory_efficient=True`` recomputes each ``DenseLayer``'s concat ->
BN -> ReLU -> 1x1 conv bottleneck in the backward pass (``tf.recompute_grad``; Pleiss et al., 2017,
"Memory-Efficient Implementation of DenseNets") instead of keeping its concatenated input alive.
"""
import re

import tensorflow as tf
import tf_keras

from tfcls.layers import ClassifierHead, ConvNormAct
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import TORCH_PREPROCESSING, ImageClassifier


def _torch_he_normal():
    """torch's kaiming_normal_ (fan-in, untruncated), a fresh instance per layer."""
    return tf_keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")


def _keras_twin(keras_twin, params, block_config, **extra):
    return Variant(params=params, arch=dict(block_config=block_config), keras_twin=keras_twin,
                   keras_preprocessing=TORCH_PREPROCESSING, **extra)


# arch: layers per dense block (growth rate 32, a 64-wide stem unless said).
VARIANTS = {
    "densenet121": _keras_twin("DenseNet121", 7_978_856, (6, 12, 24, 16),
                               timm_twin="timm/densenet121.ra_in1k",
                               torchvision_twin="densenet121 IMAGENET1K_V1"),
    "densenet169": _keras_twin("DenseNet169", 14_149_480, (6, 12, 32, 32),
                               timm_twin="timm/densenet169.tv_in1k",
                               torchvision_twin="densenet169 IMAGENET1K_V1"),
    "densenet201": _keras_twin("DenseNet201", 20_013_928, (6, 12, 48, 32),
                               timm_twin="timm/densenet201.tv_in1k",
                               torchvision_twin="densenet201 IMAGENET1K_V1"),
    "densenet161": Variant(params=28_681_000, reference="torchvision.models.densenet161",
                           arch=dict(block_config=(6, 12, 36, 24), growth_rate=48, stem_width=96,
                                     torchvision=True),
                                     timm_twin="timm/densenet161.tv_in1k",
                                     torchvision_twin="densenet161 IMAGENET1K_V1"),
}


# --- the dense layer (DenseNet only) -------------------------------------------------------------
class DenseLayer(tf_keras.layers.Layer):
    """concat(inputs) -> BN -> ReLU -> 1x1 conv (``bn_size * growth_rate``) -> BN -> ReLU ->
    3x3 conv (``growth_rate``). Called on the list of all earlier feature maps of its dense block;
    returns only the ``growth_rate`` new channels.

    With ``memory_efficient=True`` the bottleneck (up to the 1x1 conv) runs under
    ``tf.recompute_grad``: the same outputs, gradients and batch-norm statistics updates, without
    storing the concatenation and the normalized map for the backward pass. Its batch statistics
    are computed outside the recomputed function (per input, concatenated) so the moving averages
    are updated once, as keras' batch norm would (with the unbiased variance when it runs fused, the
    default in float32, else the biased one).
    """

    def __init__(self, growth_rate, bn_size=4, norm_eps=1.001e-5, norm_momentum=0.9,
                 memory_efficient=False, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.growth_rate, self.bn_size = growth_rate, bn_size
        self.norm_eps, self.norm_momentum = norm_eps, norm_momentum
        self.memory_efficient = memory_efficient
        self.kernel_initializer = kernel_initializer
        norm = dict(epsilon=norm_eps, momentum=norm_momentum)
        self.norm1 = tf_keras.layers.BatchNormalization(name="norm1", **norm)
        self.conv1 = tf_keras.layers.Conv2D(bn_size * growth_rate, 1, use_bias=False,
                                            kernel_initializer=kernel_initializer, name="conv1")
        self.norm2 = tf_keras.layers.BatchNormalization(name="norm2", **norm)
        self.conv2 = tf_keras.layers.Conv2D(growth_rate, 3, padding="same", use_bias=False,
                                            kernel_initializer=kernel_initializer, name="conv2")

    def build(self, input_shape):
        channels = sum(int(shape[-1]) for shape in input_shape)
        self.norm1.build((None, None, None, channels))
        self.conv1.build((None, None, None, channels))
        self.norm2.build((None, None, None, self.bn_size * self.growth_rate))
        self.conv2.build((None, None, None, self.bn_size * self.growth_rate))
        super().build(input_shape)

    def call(self, inputs, training=None):
        inputs = list(inputs)
        if self.memory_efficient:
            x = self._recomputed_bottleneck(inputs, bool(training))
        else:
            x = tf.concat(inputs, axis=-1) if len(inputs) > 1 else inputs[0]
            x = self.conv1(tf.nn.relu(self.norm1(x, training=training)))
        return self.conv2(tf.nn.relu(self.norm2(x, training=training)))

    def _recomputed_bottleneck(self, inputs, training):
        norm = self.norm1
        dtype = norm.dtype  # float32 under mixed precision, as keras' batch norm computes
        if training:
            moments = [tf.nn.moments(tf.cast(x, dtype), axes=[0, 1, 2]) for x in inputs]
            mean = tf.concat([m for m, _ in moments], axis=0)
            variance = tf.concat([v for _, v in moments], axis=0)
            self._update_moving_stats(inputs[0], mean, variance)
        else:
            mean, variance = norm.moving_mean, norm.moving_variance

        def bottleneck(mean, variance, *features):
            x = tf.concat([tf.cast(f, dtype) for f in features], axis=-1)
            x = tf.nn.batch_normalization(x, mean, variance, norm.beta, norm.gamma, self.norm_eps)
            x = tf.cast(tf.nn.relu(x), self.compute_dtype)
            kernel = tf.cast(self.conv1.kernel, self.compute_dtype)
            return tf.nn.conv2d(x, kernel, strides=1, padding="VALID")

        return tf.recompute_grad(bottleneck)(tf.convert_to_tensor(mean),
                                             tf.convert_to_tensor(variance), *inputs)

    def _update_moving_stats(self, sample, mean, variance):
        if self.norm1.fused:  # keras' fused kernel averages the unbiased variance, unfused biased
            shape = tf.shape(sample)
            count = tf.cast(shape[0] * shape[1] * shape[2], mean.dtype)
            variance = variance * count / tf.maximum(count - 1.0, 1.0)
        decay = 1.0 - self.norm_momentum
        for moving, value in ((self.norm1.moving_mean, mean),
                              (self.norm1.moving_variance, variance)):
            moving.assign_sub((moving - tf.stop_gradient(value)) * decay)

    def get_config(self):
        return {**super().get_config(), "growth_rate": self.growth_rate, "bn_size": self.bn_size,
                "norm_eps": self.norm_eps, "norm_momentum": self.norm_momentum,
                "memory_efficient": self.memory_efficient,
                "kernel_initializer": tf_keras.initializers.serialize(
                    tf_keras.initializers.get(self.kernel_initializer))}


class DenseNet(ImageClassifier):
    """DenseNet-BC with compression 0.5 and bottleneck width ``bn_size * growth_rate``.

    Args:
      block_config: dense layers in each of the four dense blocks.
      growth_rate: channels each dense layer adds; stem_width: channels of the 7x7 stem.
      torchvision: epsilon 1e-5 and He-normal (fan-in) kernels, else keras' 1.001e-5 and
        glorot-uniform.
      memory_efficient: recompute the dense layers' bottlenecks in the backward pass.
      drop_rate: dropout before the classifier.
    """

    def __init__(self, block_config, growth_rate=32, stem_width=64, bn_size=4, torchvision=False,
                 memory_efficient=False, num_classes=1000, drop_rate=0.0, global_pool="avg",
                 features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        eps = 1e-5 if torchvision else 1.001e-5
        init = _torch_he_normal if torchvision else (lambda: "glorot_uniform")
        self.stem = ConvNormAct(stem_width, 7, 2, norm_eps=eps, name="stem", use_bias=False)
        self.stem.conv.kernel_initializer = tf_keras.initializers.get(init())
        self.stem_pool = tf_keras.layers.MaxPooling2D(3, 2, name="stem_pool")
        self.blocks, self.transitions = [], []
        width = stem_width
        for index, depth in enumerate(block_config):
            self.blocks.append([
                DenseLayer(growth_rate, bn_size, eps, memory_efficient=memory_efficient,
                           kernel_initializer=init(), name=f"block{index + 1}_layer{layer + 1}")
                for layer in range(depth)])
            width += depth * growth_rate
            if index < len(block_config) - 1:
                width //= 2
                self.transitions.append([
                    tf_keras.layers.BatchNormalization(epsilon=eps, momentum=0.9,
                                                       name=f"transition{index + 1}_norm"),
                    tf_keras.layers.Conv2D(width, 1, use_bias=False, kernel_initializer=init(),
                                           name=f"transition{index + 1}_conv"),
                    tf_keras.layers.AveragePooling2D(2, 2, name=f"transition{index + 1}_pool")])
        self.final_norm = tf_keras.layers.BatchNormalization(epsilon=eps, momentum=0.9,
                                                             name="final_norm")
        self.num_features = width
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, name="head")

    @property
    def memory_efficient(self):
        return self.blocks[0][0].memory_efficient

    @memory_efficient.setter
    def memory_efficient(self, value):
        for block in self.blocks:
            for layer in block:
                layer.memory_efficient = bool(value)

    def forward_stages(self, x, training=None):
        x = self.stem(x, training=training)
        features = [x]  # stride 2
        x = self.stem_pool(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]))  # after ReLU: = -inf pad
        for index, block in enumerate(self.blocks):
            maps = [x]
            for layer in block:
                maps.append(layer(maps, training=training))
            x = tf.concat(maps, axis=-1)
            if index < len(self.transitions):
                features.append(x)  # strides 4, 8, 16: each dense block's output
                norm, conv, pool = self.transitions[index]
                x = pool(conv(tf.nn.relu(norm(x, training=training))))
        x = tf.nn.relu(self.final_norm(x, training=training))
        features.append(x)  # stride 32
        return features

    def keras_weight_pairs(self):
        """(our layer, its tf_keras.applications twin's layer name), for the weight port."""
        pairs = [(self.stem.conv, "conv1/conv"), (self.stem.bn, "conv1/bn")]
        for index, block in enumerate(self.blocks):
            for number, layer in enumerate(block):
                prefix = f"conv{index + 2}_block{number + 1}"
                pairs += [(layer.norm1, f"{prefix}_0_bn"), (layer.conv1, f"{prefix}_1_conv"),
                          (layer.norm2, f"{prefix}_1_bn"), (layer.conv2, f"{prefix}_2_conv")]
            if index < len(self.transitions):
                norm, conv, _ = self.transitions[index]
                pairs += [(norm, f"pool{index + 2}_bn"), (conv, f"pool{index + 2}_conv")]
        pairs.append((self.final_norm, "bn"))
        return pairs

    def torch_weight_pairs(self, source="timm"):
        """(our layer, its timm / torchvision twin's module name); the two name them alike.
        The twins' batch-norm epsilon is 1e-5; DenseNet-121/169/201 keep keras' 1.001e-5, which
        moves the logits by about 1e-7 of their scale."""
        pairs = [(self.stem, ("features.conv0", "features.norm0"))]
        for index, block in enumerate(self.blocks):
            for number, layer in enumerate(block):
                prefix = f"features.denseblock{index + 1}.denselayer{number + 1}"
                pairs += [(getattr(layer, name), f"{prefix}.{name}")
                          for name in ("norm1", "conv1", "norm2", "conv2")]
            if index < len(self.transitions):
                norm, conv, _ = self.transitions[index]
                pairs += [(norm, f"features.transition{index + 1}.norm"),
                          (conv, f"features.transition{index + 1}.conv")]
        return pairs + [(self.final_norm, "features.norm5"), (self.classifier_layer, "classifier")]

    @staticmethod
    def normalize_torch_keys(state_dict):
        """torchvision's DenseNet files predate its module names: ``norm.1`` for ``norm1``
        (torchvision renames them on load as well)."""
        return {_OLD_DENSE_KEY.sub(r"\1\2", key): value for key, value in state_dict.items()}


_OLD_DENSE_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|"
                            r"running_mean|running_var))$")


register_family("DenseNet", "Huang et al., 2017", DenseNet, VARIANTS)
