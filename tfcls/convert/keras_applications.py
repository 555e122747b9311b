"""Port weights from tf_keras.applications models into tfcls models, layer by layer."""
import tf_keras

from tfcls.layers import DropPath
from tfcls.models.resnet import ResNet
from tfcls.models.vgg import VGG

# keras.applications preprocessing, as mean/std on [0, 1] pixels listed in the model's channel
# order (see tfcls.models.base): "caffe" is BGR with ImageNet's mean subtracted, no scaling.
CAFFE_PREPROCESSING = {"mean": (103.939 / 255, 116.779 / 255, 123.68 / 255),
                       "std": (1 / 255, 1 / 255, 1 / 255), "channel_order": "BGR"}
TF_PREPROCESSING = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "channel_order": "RGB"}


def _conv_norm_pairs(ours, prefix):
    """(our layer, keras layer name) for a ConvNormAct whose keras twins are prefix_conv/_bn."""
    pairs = [(ours.conv, f"{prefix}_conv")]
    if ours.bn is not None:
        pairs.append((ours.bn, f"{prefix}_bn"))
    return pairs


def _resnet_pairs(model):
    preact = model.post_norm is not None
    pairs = _conv_norm_pairs(model.stem, "conv1")
    for block in model.blocks:
        stage, index = block.name.replace("stage", "").split("_block")
        prefix = f"conv{int(stage) + 1}_block{index}"
        if preact:
            pairs.append((block.preact, f"{prefix}_preact_bn"))
        for number, conv in enumerate([block.shortcut, block.conv1, block.conv2, block.conv3]):
            if conv is not None:
                pairs += _conv_norm_pairs(conv, f"{prefix}_{number}")
    if preact:
        pairs.append((model.post_norm, "post_bn"))
    return pairs


def _vgg_pairs(model):
    pairs = []
    for stage_index, stage in enumerate(model.stages):
        for conv_index, conv in enumerate(stage[:-1]):
            name = f"block{stage_index + 1}_conv{conv_index + 1}"
            pairs.append((conv.conv, name))
            if conv.bn is not None:
                raise ValueError("keras.applications has no VGG with batch norm to port from.")
    if model.head is not None:
        pairs += [(dense, f"fc{i + 1}") for i, dense in enumerate(model.head.hidden)]
    return pairs


_FAMILY_PAIRS = {ResNet: _resnet_pairs, VGG: _vgg_pairs}
PREPROCESSING = {"ResNet50": CAFFE_PREPROCESSING, "ResNet101": CAFFE_PREPROCESSING,
                 "ResNet152": CAFFE_PREPROCESSING, "VGG16": CAFFE_PREPROCESSING,
                 "VGG19": CAFFE_PREPROCESSING, "ResNet50V2": TF_PREPROCESSING,
                 "ResNet101V2": TF_PREPROCESSING, "ResNet152V2": TF_PREPROCESSING}


def from_keras_applications(model, keras_model, preprocessing=None):
    """Copies every weight of ``keras_model`` (a tf_keras.applications model) into ``model``.

    The classifier is copied too when the keras model has one ("predictions") and the class
    counts agree; otherwise the tfcls head keeps its own initialization. Raises ValueError when a
    layer is missing or a shape differs, naming the layer. Sets ``model.pretrained_cfg``'s
    normalization to ``preprocessing`` (e.g. ``CAFFE_PREPROCESSING``) when given.
    """
    make_pairs = next((fn for cls, fn in _FAMILY_PAIRS.items() if isinstance(model, cls)), None)
    if make_pairs is None:
        raise ValueError(f"No keras.applications weight mapping for {type(model).__name__}.")
    pairs = make_pairs(model)
    keras_names = {layer.name for layer in keras_model.layers}
    head_fc = getattr(model.head, "fc", None)
    if head_fc is not None and "predictions" in keras_names:
        keras_classes = keras_model.get_layer("predictions").units
        if keras_classes == model.num_classes:
            pairs.append((head_fc, "predictions"))
    copied = set()
    for ours, keras_name in pairs:
        if keras_name not in keras_names:
            raise ValueError(f"{keras_model.name} has no layer {keras_name!r} for {ours.name}: "
                             f"is it the matching architecture?")
        _copy_layer(ours, keras_model.get_layer(keras_name))
        copied.update(id(w) for w in ours.weights)
    _check_all_copied(model, copied, head_fc)
    if preprocessing:
        model.pretrained_cfg = {**model.pretrained_cfg, **preprocessing}
    return model


def _copy_layer(ours, theirs):
    values = theirs.get_weights()
    if len(values) != len(ours.weights):
        raise ValueError(f"{ours.name} has {len(ours.weights)} weights, keras' {theirs.name} has "
                         f"{len(values)}.")
    for var, value in zip(ours.weights, values):
        if tuple(var.shape) != value.shape:
            raise ValueError(f"Shape mismatch at {ours.name}/{var.name}: ours {tuple(var.shape)}, "
                             f"keras' {theirs.name} {value.shape}.")
        var.assign(value)


def _check_all_copied(model, copied, head_fc):
    skip = {id(w) for w in head_fc.weights} if head_fc is not None else set()
    skip |= {id(m.rate) for m in model.submodules if isinstance(m, DropPath)}
    missing = [w.name for w in model.weights if id(w) not in copied | skip]
    if missing:
        raise ValueError(f"Weights left unported: {missing[:5]} ({len(missing)} in all).")


def load_pretrained(model, canonical_name, source):
    """Loads ImageNet weights into ``model`` from ``source`` (only "keras" so far)."""
    from tfcls.models._registration import entries

    if source != "keras":
        raise ValueError(f"Unknown pretrained source {source!r}; use pretrained='keras'.")
    keras_name = entries()[canonical_name].keras_application
    if keras_name is None:
        raise ValueError(f"{canonical_name} has no tf_keras.applications twin to take ImageNet "
                         f"weights from; train it or load a tfcls checkpoint instead.")
    include_top = model.num_classes == 1000
    try:
        keras_model = getattr(tf_keras.applications, keras_name)(weights="imagenet",
                                                                 include_top=include_top)
    except Exception as err:  # network errors come as several types (URLError, OSError, ...)
        raise RuntimeError(
            f"Could not fetch the ImageNet weights of tf_keras.applications.{keras_name} "
            f"({type(err).__name__}: {err}). The download needs internet access; offline, copy "
            f"the keras weight file into ~/.keras/models/ or build without pretrained.") from err
    return from_keras_applications(model, keras_model, PREPROCESSING[keras_name])
