"""What the Inception families share: a body run layer by layer with feature taps and optional
auxiliary classifiers (Szegedy et al., 2014 and 2015), and the keras port of twins whose layers
keras leaves auto-named."""
import re

import tensorflow as tf
import tf_keras

from tfcls.layers import AdaptiveAvgPool2D, Branches, ConvNormAct, StatelessDropout, conv_layers
from tfcls.models.base import ImageClassifier


class InceptionNet(ImageClassifier):
    """An Inception network: ``self.body``, a list of layers run in order; the outputs of the
    layers at ``feature_taps`` are the feature maps at strides 2, 4, 8, 16, 32; ``aux_heads`` (if
    any) read the outputs of the layers at ``aux_taps``.

    With auxiliary heads, ``call(x, training=True)`` returns ``(logits, aux_logits, ...)`` (float32)
    and ``aux_loss_weights`` says how much each adds to the loss; otherwise (and in inference) it
    returns the logits.
    """

    aux_loss_weights = ()

    def _set_body(self, body, feature_taps, aux_heads=(), aux_taps=(), aux_loss_weights=()):
        self.body = body
        self.feature_taps = tuple(feature_taps)
        self.aux_heads = list(aux_heads)
        self.aux_taps = tuple(aux_taps)
        self.aux_loss_weights = tuple(aux_loss_weights)

    def _run_body(self, x, training, with_aux=False):
        features, aux = [], []
        for index, layer in enumerate(self.body):
            x = layer(x, training=training)
            if index in self.feature_taps:
                features.append(x)
            if with_aux and index in self.aux_taps:
                head = self.aux_heads[self.aux_taps.index(index)]
                aux.append(tf.cast(head(x, training=training), tf.float32))
        return features, aux

    def forward_stages(self, x, training=None):
        return self._run_body(x, training)[0]

    def build(self, input_shape):
        """Builds the auxiliary heads too (inference skips them), so an optimizer built on
        ``trainable_variables`` before training covers them."""
        super().build(input_shape)
        if self.aux_heads and not self.features_only:
            shape = [1 if d is None else int(d) for d in tf.TensorShape(input_shape)]
            self._run_body(tf.zeros(shape), training=False, with_aux=True)

    @property
    def aux_classifier_layers(self):
        """The auxiliary heads' final linear layers (a weight port treats them as classifiers)."""
        return [head.fc for head in self.aux_heads]

    def reset_classifier(self, num_classes):
        """New classifiers for ``num_classes``, the auxiliary ones included (0: no heads)."""
        super().reset_classifier(num_classes)
        if not self.num_classes:
            self.aux_heads, self.aux_taps, self.aux_loss_weights = [], (), ()
        for head in self.aux_heads:
            head.reset(self.num_classes)

    def call(self, inputs, training=None):
        if not (self.aux_heads and training and not self.features_only):
            return super().call(inputs, training=training)
        self._check_input(inputs)
        features, aux = self._run_body(inputs, training, with_aux=True)
        return (self.forward_head(features[-1], training=training), *aux)


class AuxiliaryHead(tf_keras.layers.Layer):
    """An auxiliary classifier: ``layers`` (pools, convs, flatten, hidden dense...) then a linear
    layer to ``num_classes``; float32 logits."""

    def __init__(self, layers, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.body = list(layers)
        self.num_classes = int(num_classes)
        self.fc = tf_keras.layers.Dense(self.num_classes, name="fc")

    def call(self, x, training=None):
        for layer in self.body:
            x = layer(x, training=training)
        return tf.cast(self.fc(x), tf.float32)

    def reset(self, num_classes):
        """A new, freshly initialized linear layer for ``num_classes``."""
        in_features = self.fc.kernel.shape[0] if self.fc.built else None
        self.num_classes = int(num_classes)
        self.fc = tf_keras.layers.Dense(self.num_classes, name="fc")
        if in_features is not None:
            self.fc.build((None, in_features))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def googlenet_aux_head(num_classes, conv, name, drop_rate=0.7):
    """torchvision GoogLeNet's InceptionAux: 4x4 adaptive average pool, 1x1 conv to 128, a
    2048 -> 1024 ReLU layer, dropout 0.7, linear."""
    return AuxiliaryHead([AdaptiveAvgPool2D(4, name="pool"), conv(128, 1, name="conv"),
                          tf_keras.layers.Flatten(name="flatten"),
                          tf_keras.layers.Dense(1024, activation="relu", name="fc1"),
                          StatelessDropout(drop_rate, name="dropout")],
                         num_classes, name=name)


def inception_v3_aux_head(num_classes, conv, name):
    """Inception-v3's auxiliary classifier (torchvision's InceptionAux): 5x5 stride-3 average pool,
    1x1 conv to 128, 5x5 conv to 768, global pool, linear. Needs a >= 17x17 map at its tap."""
    return AuxiliaryHead([tf_keras.layers.AveragePooling2D(5, 3, name="pool"),
                          conv(128, 1, name="conv0"), conv(768, 5, padding="valid", name="conv1"),
                          tf_keras.layers.GlobalAveragePooling2D(name="global_pool")],
                         num_classes, name=name)


def _auto_named(keras_model, base):
    """keras layers auto-named ``base``, ``base_1``, ... in the order keras created them."""
    pattern = re.compile(rf"{base}(?:_(\d+))?")
    found = [(int(m.group(1) or 0), layer) for layer in keras_model.layers
             if (m := pattern.fullmatch(layer.name))]
    return [layer for _, layer in sorted(found, key=lambda item: item[0])]


def keras_auto_pairs(body, keras_model, named=None):
    """(our layer, keras layer name) pairs for a keras Inception twin: our ConvNormActs in
    computation order take keras' auto-named Conv2D / BatchNormalization layers in creation order
    (keras builds branch by branch, as we do); ``named(conv) -> keras name or None`` gives the
    ones keras names (a ConvNormAct ``x`` named in keras maps to ``x`` and ``x_bn``)."""
    convs = iter(_auto_named(keras_model, "conv2d"))
    norms = iter(_auto_named(keras_model, "batch_normalization"))
    pairs = []
    for conv in conv_layers(body):
        keras_name = named(conv) if named else None
        if keras_name is not None:
            pairs.append((conv.conv, keras_name))
            if conv.bn is not None:
                pairs.append((conv.bn, f"{keras_name}_bn"))
            continue
        keras_conv = next(convs, None)
        keras_norm = next(norms, None) if conv.bn is not None else None
        if keras_conv is None or (conv.bn is not None and keras_norm is None):
            raise ValueError(f"{keras_model.name} has fewer convolutions than ours: not the twin.")
        pairs.append((conv.conv, keras_conv.name))
        if conv.bn is not None:
            pairs.append((conv.bn, keras_norm.name))
    if next(convs, None) is not None or next(norms, None) is not None:
        raise ValueError(f"{keras_model.name} has more convolutions than ours: not the twin.")
    return pairs


# PyTorch's default convolution init (kaiming_uniform, a=sqrt(5)): U(+-1/sqrt(fan_in)). A config,
# so that each layer gets its own initializer instance (a shared unseeded one repeats its values).
TORCH_DEFAULT_INIT = {"class_name": "VarianceScaling",
                      "config": {"scale": 1 / 3, "mode": "fan_in", "distribution": "uniform"}}


def torch_conv(filters, kernel, strides=1, padding=None, name=None,
               kernel_initializer=TORCH_DEFAULT_INIT):
    """torchvision / timm / facenet-pytorch BasicConv2d: unbiased conv padded k//2 on each side
    ("valid": unpadded), batch norm with epsilon 1e-3 (torch momentum 0.1), ReLU."""
    return ConvNormAct(filters, kernel, strides, padding="valid" if padding == "valid" else
                       "symmetric", norm_eps=1e-3, norm_momentum=0.9,
                       kernel_initializer=kernel_initializer, name=name)


def inception_pool(kind, name=None):
    """The pools of Inception v3/v4/ResNet (keras and timm alike): "max" a 3x3 stride-2 max-pool
    without padding, "avg" a 3x3 stride-1 average pool padded by 1 that does not count the padding
    (torch's count_include_pad=False = keras' "same")."""
    if kind == "avg":
        return tf_keras.layers.AveragePooling2D(3, 1, padding="same", name=name)
    if kind == "max":
        return tf_keras.layers.MaxPooling2D(3, 2, name=name)
    raise ValueError(f"Unknown Inception pool {kind!r}: 'avg' or 'max'.")


def build_stem(steps, make_conv, make_pool, prefix="stem"):
    """The stem's layers: a step is ``(filters, kernel[, strides, padding])`` or a pool name."""
    return [make_pool(step, name=f"{prefix}_pool{i + 1}") if isinstance(step, str)
            else make_conv(*step, name=f"{prefix}_conv{i + 1}") for i, step in enumerate(steps)]


def keras_conv(filters, kernel, strides=1, padding=None, name=None):
    """keras' conv2d_bn of InceptionV3 / InceptionResNetV2: unbiased conv ("same" unless said),
    batch norm without scale (epsilon 1e-3, momentum 0.99), ReLU."""
    return ConvNormAct(filters, kernel, strides, padding=padding or "same", norm_eps=1e-3,
                       norm_momentum=0.99, norm_scale=False, name=name)


def torch_conv_pair(conv, name):
    """A torch ``BasicConv2d`` (``name.conv``, ``name.bn``) for one of our ConvNormActs."""
    return conv, (f"{name}.conv", f"{name}.bn")


def torch_branch_pairs(block, prefix, first=0):
    """(ConvNormAct, torch name) pairs of a ``Branches`` block named as torchvision's GoogLeNet
    and timm's Inception-v4 name theirs: branch ``b`` is ``branch{b + first}``, a one-step branch
    the BasicConv2d itself, a longer one a Sequential (``branch1.0``, ``branch1.1``: a pool
    counts as a step), and a branch that splits in two (Inception-v4's C block) names its steps
    ``branch1_0``, ``branch1_1a``, ``branch1_1b``."""
    pairs = []
    for index, steps in enumerate(block.branches):
        name = f"{prefix}.branch{index + first}"
        split = any(isinstance(step, Branches) for step in steps)
        for number, step in enumerate(steps):
            if isinstance(step, Branches):
                pairs += [torch_conv_pair(conv, f"{name}_{number}{chr(97 + j)}")
                          for j, (conv,) in enumerate(step.branches)]
            elif isinstance(step, ConvNormAct):
                where = (f"{name}_{number}" if split else
                         name if len(steps) == 1 else f"{name}.{number}")
                pairs.append(torch_conv_pair(step, where))
    return pairs
