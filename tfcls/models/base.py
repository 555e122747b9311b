"""The interface every tfcls model shares (after timm's): features, head, classifier reset; and
the input conventions models and weights are described with."""
import tf_keras

from tfcls.layers.drop_path import drop_path_layers, set_drop_path_rate, tag_drop_path_depth

# Input conventions, as mean/std on [0, 1] pixels listed in the model's channel order.
# IMAGENET_CFG: what a model expects unless its variant row says otherwise (see Variant).
IMAGENET_CFG = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
                "channel_order": "RGB", "crop_pct": 0.875}
# keras.applications' conventions. "caffe": BGR with ImageNet's mean subtracted, no scaling; "tf":
# [-1, 1]; "torch": ImageNet mean/std (what keras' EfficientNet/ConvNeXt do inside the model).
CAFFE_PREPROCESSING = {"mean": (103.939 / 255, 116.779 / 255, 123.68 / 255),
                       "std": (1 / 255, 1 / 255, 1 / 255), "channel_order": "BGR"}
TF_PREPROCESSING = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "channel_order": "RGB"}
TORCH_PREPROCESSING = {key: IMAGENET_CFG[key] for key in ("mean", "std", "channel_order")}


class ImageClassifier(tf_keras.Model):
    """Base class of tfcls models.

    A subclass builds its layers in ``__init__``, sets ``self.head`` (unless ``features_only``) and
    ``self.num_features``, and implements ``forward_stages``: the list of feature maps after each
    stage, at strides 2, 4, 8, 16 and 32 (as far as the network goes). Then:

    * ``call(x, training)`` -> float32 logits, or pooled features when ``num_classes == 0``, or the
      list of stage feature maps when built with ``features_only=True``;
    * ``forward_features(x, training)`` -> the last feature map (before pooling);
    * ``forward_head(features, pre_logits=False, training)`` -> logits (or the pre-logit vector);
    * ``reset_classifier(num_classes)`` -> a new classifier, backbone weights kept.

    Inputs are NHWC float images normalized as ``pretrained_cfg`` says: ``(pixels / 255 - mean) /
    std`` with the channels in ``channel_order`` ("RGB" or "BGR"), mean and std listed in that order.
    The registry sets ``pretrained_cfg`` and ``min_input_size`` from the variant's row.

    A family with stochastic depth names its rule (``drop_path_rule``, a key of
    ``tfcls.layers.DEPTH_RULES``) and calls ``apply_drop_path_rule(blocks, rate)`` once its blocks
    exist.
    """

    min_input_size = 32
    drop_path_rule = None

    def __init__(self, num_classes=1000, features_only=False, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = 0 if features_only else int(num_classes)
        self.features_only = features_only
        self.head = None
        self.num_features = None
        self.pretrained_cfg = {**IMAGENET_CFG, "input_size": 224}

    def apply_drop_path_rule(self, blocks, drop_path_rate):
        """Tags the DropPath layers of ``blocks`` (in depth order) with their depth fraction by
        the family's rule, then sets their rates for ``drop_path_rate`` (the deepest block's)."""
        set_drop_path_rate(tag_drop_path_depth(blocks, self.drop_path_rule), drop_path_rate)

    def forward_stages(self, x, training=None):
        raise NotImplementedError

    def forward_features(self, x, training=None):
        return self.forward_stages(x, training=training)[-1]

    def forward_head(self, features, pre_logits=False, training=None):
        if self.head is None:
            raise ValueError(f"{self.name} was built with features_only=True and has no head.")
        return self.head(features, pre_logits=pre_logits, training=training)

    def call(self, inputs, training=None):
        self._check_input(inputs)
        if self.features_only:
            return self.forward_stages(inputs, training=training)
        return self.forward_head(self.forward_features(inputs, training=training), training=training)

    def reset_classifier(self, num_classes):
        """Replaces the classifier with a new one for ``num_classes`` (0: pooled features)."""
        if self.head is None:
            raise ValueError(f"{self.name} was built with features_only=True and has no head.")
        self.num_classes = int(num_classes)
        self.head.reset(self.num_classes, self.num_features)

    @property
    def classifier_layer(self):
        """The final linear layer (None without one): what a weight port leaves out when the
        class counts differ."""
        return getattr(self.head, "fc", None) if self.head is not None else None

    @property
    def drop_path_layers(self):
        return drop_path_layers(self)

    def _check_input(self, inputs):
        shape = inputs.shape
        if shape.rank is not None and shape.rank != 4:
            raise ValueError(f"{self.name} expects NHWC images of rank 4, got shape {shape}.")
        if shape.rank == 4 and shape[-1] is not None and shape[-1] != 3:
            raise ValueError(f"{self.name} expects 3 colour channels last (NHWC), got shape {shape}.")
        for size in shape[1:3] if shape.rank == 4 else ():
            if size is not None and size < self.min_input_size:
                raise ValueError(
                    f"Input of {shape[1]}x{shape[2]} px is too small for {self.name}: it needs at "
                    f"least {self.min_input_size}x{self.min_input_size}. Resize the images or use "
                    f"a larger --img_size.")
