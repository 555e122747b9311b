"""DenseNet (Huang et al., 2017, "Densely Connected Convolutional Networks").

DenseNet-121/169/201 are keras.applications' twins (= torchvision's layout, batch-norm epsilon
1.001e-5, glorot-uniform kernels), whose ImageNet weights port one to one. DenseNet-161 follows
torchvision (growth 48, a 96-wide stem, epsilon 1e-5, He-normal kernels). A 7x7 stride-2 stem with
BN-ReLU and a 3x3 stride-2 max-pool, four dense blocks (BN-ReLU-1x1-BN-ReLU-3x3 layers, each
concatenating ``growth_rate`` channels) joined by BN-ReLU-1x1-avgpool transitions halving the
width, then a final BN-ReLU. ``memory_efficient=True`` recomputes each layer's bottleneck in the
backward pass (Pleiss et al., 2017), see ``tfcls.layers.DenseLayer``.
"""
import functools
import re

import tensorflow as tf
import tf_keras

from tfcls.layers import ClassifierHead, ConvNormAct, DenseLayer
from tfcls.models._registration import TORCH_PREPROCESSING, registrar
from tfcls.models.base import ImageClassifier

register = registrar("DenseNet", "Huang et al., 2017")



def _torch_he_normal():
    """torch's kaiming_normal_ (fan-in, untruncated), a fresh instance per layer."""
    return tf_keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")


# name: (layers per dense block, growth rate, stem width, params, keras twin)
_VARIANTS = {
    "densenet121": ((6, 12, 24, 16), 32, 64, 7_978_856, "DenseNet121"),
    "densenet169": ((6, 12, 32, 32), 32, 64, 14_149_480, "DenseNet169"),
    "densenet201": ((6, 12, 48, 32), 32, 64, 20_013_928, "DenseNet201"),
    "densenet161": ((6, 12, 36, 24), 48, 96, 28_681_000, None),
}


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
                 memory_efficient=False, num_classes=1000, drop_rate=0.0, drop_path_rate=0.0,
                 global_pool="avg", features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        if drop_path_rate:
            raise ValueError("DenseNet has no residual blocks, so drop_path_rate must be 0.")
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


for _name, (_blocks, _growth, _stem, _params, _keras) in _VARIANTS.items():
    if _keras:
        register.variant(_name, functools.partial(DenseNet, _blocks, _growth, _stem),
                         params=_params, reference=f"tf_keras.applications.{_keras}",
                         keras=_keras, keras_preprocessing=TORCH_PREPROCESSING)
    else:
        register.variant(_name, functools.partial(DenseNet, _blocks, _growth, _stem,
                                                  torchvision=True),
                         params=_params, reference=f"torchvision.models.{_name}")
