"""Port weights from tf_keras.applications models into tfcls models, layer by layer.

Each family that has keras twins gives its model class a ``keras_weight_pairs()`` method listing
``(our layer, keras layer name)`` pairs, or ``(our layer, keras layer name, transform)`` where the
keras layout differs (``transform(values) -> values`` maps the keras layer's weight list to ours,
e.g. a dense squeeze-excite kernel reshaped to a 1x1 conv). A keras layer that keras leaves unnamed
(its automatic name depends on what was built before) is given as a function
``find(keras_model) -> layer`` instead of a name. The family keeps its own names; this module only
copies and checks.
"""
import inspect

import tf_keras

from tfcls.layers import DropPath
from tfcls.models import (  # noqa: F401  (re-exported)
    CAFFE_PREPROCESSING, TF_PREPROCESSING, TORCH_PREPROCESSING)
from tfcls.registry import model_entry


def from_keras_applications(model, keras_model, preprocessing=None):
    """Copies every weight of ``keras_model`` (a tf_keras.applications model) into ``model``.

    The classifier is copied too when the keras model has one ("predictions") and the class
    counts agree; otherwise the tfcls head keeps its own initialization. Raises ValueError when a
    layer is missing or a shape differs, naming the layer. Sets ``model.pretrained_cfg``'s
    normalization to ``preprocessing`` (e.g. ``CAFFE_PREPROCESSING``) when given.
    """
    if not hasattr(model, "keras_weight_pairs"):
        raise ValueError(f"No keras.applications weight mapping for {type(model).__name__}.")
    pairs = [pair if len(pair) == 3 else (*pair, None)
             for pair in _weight_pairs(model, keras_model)]
    keras_names = {layer.name for layer in keras_model.layers}
    head_fc = getattr(model.head, "fc", None)
    if head_fc is not None and "predictions" in keras_names:
        keras_classes = getattr(keras_model.get_layer("predictions"), "units", None)
        if keras_classes == model.num_classes:
            pairs.append((head_fc, "predictions", None))
    head_layers = {id(m) for m in model.head.submodules} if model.head is not None else set()
    copied = set()
    for ours, keras_name, transform in pairs:
        if callable(keras_name):
            theirs = keras_name(keras_model)
        elif keras_name in keras_names:
            theirs = keras_model.get_layer(keras_name)
        else:
            theirs = None
        if theirs is None and id(ours) in head_layers:
            continue  # a head layer (e.g. a 1x1-conv classifier) of a twin without its top
        if theirs is None:
            raise ValueError(f"{keras_model.name} has no layer {keras_name!r} for {ours.name}: "
                             f"is it the matching architecture?")
        _copy_layer(ours, theirs, transform)
        copied.update(id(w) for w in ours.weights)
    _check_all_copied(model, copied)
    if preprocessing:
        model.pretrained_cfg = {**model.pretrained_cfg, **preprocessing}
    return model


def _weight_pairs(model, keras_model):
    """``model.keras_weight_pairs()``; families whose keras twin leaves layers auto-named
    ("conv2d_17", numbered in creation order, offset by whatever the session built before: keras'
    Inception nets) take the keras model, ``keras_weight_pairs(keras_model)``, to read the names."""
    if "keras_model" in inspect.signature(model.keras_weight_pairs).parameters:
        return model.keras_weight_pairs(keras_model)
    return model.keras_weight_pairs()


def _copy_layer(ours, theirs, transform=None):
    values = theirs.get_weights()
    if transform is not None:
        values = transform(values)
    if len(values) != len(ours.weights):
        raise ValueError(f"{ours.name} has {len(ours.weights)} weights, keras' {theirs.name} has "
                         f"{len(values)}.")
    for var, value in zip(ours.weights, values):
        if tuple(var.shape) != value.shape:
            raise ValueError(f"Shape mismatch at {ours.name}/{var.name}: ours {tuple(var.shape)}, "
                             f"keras' {theirs.name} {value.shape}.")
        var.assign(value)


def _check_all_copied(model, copied):
    """Every backbone weight was copied (a head keeps its own when the twin has no top)."""
    skip = {id(w) for w in model.head.weights} if model.head is not None else set()
    skip |= {id(m.rate) for m in model.submodules if isinstance(m, DropPath)}
    missing = [w.name for w in model.weights if id(w) not in copied | skip]
    if missing:
        raise ValueError(f"Weights left unported: {missing[:5]} ({len(missing)} in all).")


class PretrainedUnavailableError(RuntimeError):
    """ImageNet weights that could not be fetched or read (no network, no file, no reader)."""


def load_pretrained(model, canonical_name, source):
    """Loads ImageNet weights into ``model`` from ``source``: "keras" (tf_keras.applications),
    "timm" or "torchvision" (the variant's twin checkpoint, ``tfcls.convert.torch_twins``), or
    the path of a timm/torchvision checkpoint file."""
    if source != "keras":
        from tfcls.convert.torch_files import load_torch_pretrained
        return load_torch_pretrained(model, canonical_name, source)
    row = model_entry(canonical_name).variant
    if row.keras_twin is None:
        raise ValueError(f"{canonical_name} has no tf_keras.applications twin to take ImageNet "
                         f"weights from; train it or load a tfcls checkpoint instead.")
    include_top = model.num_classes == 1000
    try:
        keras_model = getattr(tf_keras.applications, row.keras_twin)(
            weights="imagenet", include_top=include_top, **row.keras_kwargs)
    except Exception as err:  # network errors come as several types (URLError, OSError, ...)
        raise PretrainedUnavailableError(
            f"Could not fetch the ImageNet weights of tf_keras.applications."
            f"{row.keras_twin} ({type(err).__name__}: {err}). The download needs "
            f"internet access; offline, copy the keras weight file into ~/.keras/models/ or build "
            f"without pretrained.") from None
    return from_keras_applications(model, keras_model, row.keras_preprocessing)
