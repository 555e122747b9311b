"""Port a PyTorch ``state_dict`` (timm or torchvision) into a tfcls model, by an explicit name map.

Each family that has a timm or torchvision twin gives its model class a ``torch_weight_pairs(source)``
method (``source``: "timm" or "torchvision") listing ``(our layer, torch name)`` pairs:

* a keras ``Conv2D`` / ``DepthwiseConv2D`` / ``Dense`` / ``BatchNormalization`` /
  ``LayerNormalization`` and the torch module's name (``"layer1.0.conv1"``): its ``weight``,
  ``bias``, ``running_mean``, ``running_var`` are read as that keras layer has them; a
  ``LayerScale`` and the module holding the ``gamma`` parameter (ConvNeXt's block);
* a ``ConvNormAct`` and a ``(conv name, norm name)`` pair of torch names;
* ``None`` and a torch name: the twin's module we do not build (auxiliary heads we left out), whose
  keys are deliberately skipped;
* an optional third element, a function on the torch weight before the layout change (e.g. VGG's
  first fully-connected layer, whose inputs torch flattens channel-first).

The classifier (``model.classifier_layer``, and ``aux_classifier_layers`` if any) is ported only
when its width equals the twin's;
otherwise (``num_classes != 1000``, pooled features) only the backbone is. Everything is checked
before anything is assigned: a key missing on either side, or a shape that does not fit, is refused
with one error naming the keys, and the model keeps its weights.
"""
import numpy as np
import tf_keras

from tfcls.layers import ConvNormAct, DropPath, LayerScale

_BN_PARAMS = (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
              ("moving_variance", "running_var"))
_SHOWN = 6  # keys listed in an error, per kind


class TorchPortError(ValueError):
    """A state dict that does not fit the model (keys missing or left over, shapes that differ)."""


def _conv_kernel(weight):  # torch (out, in / groups, kh, kw) -> keras (kh, kw, in / groups, out)
    return weight.transpose(2, 3, 1, 0)


def _depthwise_kernel(weight, multiplier):  # torch (in * m, 1, kh, kw) -> keras (kh, kw, in, m)
    out, _, kh, kw = weight.shape
    return weight.reshape(out // multiplier, multiplier, kh, kw).transpose(2, 3, 0, 1)


def _dense_kernel(weight):  # torch (out, in) or a 1x1 conv's (out, in, 1, 1) -> keras (in, out)
    return weight.reshape(weight.shape[0], -1).T


def _layer_params(layer):
    """[(keras variable, torch parameter name, weight conversion)] of one keras layer."""
    if isinstance(layer, tf_keras.layers.DepthwiseConv2D):
        multiplier = layer.depth_multiplier
        params = [(layer.depthwise_kernel, "weight",
                   lambda w: _depthwise_kernel(w, multiplier))]
    elif isinstance(layer, tf_keras.layers.Conv2D):
        params = [(layer.kernel, "weight", _conv_kernel)]
    elif isinstance(layer, tf_keras.layers.Dense):
        params = [(layer.kernel, "weight", _dense_kernel)]
    elif isinstance(layer, tf_keras.layers.BatchNormalization):
        return [(getattr(layer, ours), theirs, None) for ours, theirs in _BN_PARAMS
                if getattr(layer, ours, None) is not None]
    elif isinstance(layer, LayerScale):  # a per-channel scale, the torch block's ``gamma``
        return [(layer.gamma, "gamma", None)]
    elif isinstance(layer, tf_keras.layers.LayerNormalization):
        return [(v, name, None) for v, name in ((layer.gamma, "weight"), (layer.beta, "bias"))
                if v is not None]
    else:
        raise TypeError(f"No torch weight layout for {type(layer).__name__} ({layer.name}).")
    if getattr(layer, "use_bias", False):
        params.append((layer.bias, "bias", None))
    return params


def _expand(pairs):
    """(keras layer or None, torch module name, transform) triples, a ConvNormAct split in two."""
    for pair in pairs:
        ours, theirs, transform = (*pair, None) if len(pair) == 2 else pair
        if isinstance(ours, ConvNormAct):
            conv_name, norm_name = theirs
            yield ours.conv, conv_name, transform
            if ours.bn is not None:
                yield ours.bn, norm_name, None
        else:
            yield ours, theirs, transform


def _classifier_classes(pairs, state_dict, classifier):
    """The twin's classifier width, from its weight in ``state_dict`` (None: no classifier)."""
    for ours, theirs, _ in pairs:
        if ours is classifier and f"{theirs}.weight" in state_dict:
            return int(np.shape(state_dict[f"{theirs}.weight"])[0])
    return None


class _Plan:
    """What a port would do: the assignments, and the keys and variables it met on the way."""

    def __init__(self, state_dict):
        self.state_dict = state_dict
        self.assignments, self.missing, self.shapes = [], [], []
        self.used_keys, self.seen_vars = set(), set()

    def skip(self, ours, theirs):
        """The twin's module ``theirs`` is deliberately not ported (and ``ours`` kept)."""
        self.used_keys |= {k for k in self.state_dict if k == theirs or k.startswith(theirs + ".")}
        self.seen_vars |= {id(w) for w in ours.weights} if ours is not None else set()

    def add(self, ours, theirs, transform):
        for var, param, convert in _layer_params(ours):
            key = f"{theirs}.{param}"
            self.seen_vars.add(id(var))
            if key not in self.state_dict:
                self.missing.append(key)
                continue
            self.used_keys.add(key)
            value = np.asarray(self.state_dict[key], dtype=np.float32)
            if transform is not None and param == "weight":
                value = transform(value)
            try:
                value = convert(value) if convert is not None else value
            except ValueError:  # a reshape that cannot fit: reported as a shape below
                pass
            if tuple(value.shape) != tuple(var.shape):
                self.shapes.append(f"{key} {tuple(np.shape(self.state_dict[key]))} -> "
                                   f"{var.name} {tuple(var.shape)}")
            else:
                self.assignments.append((var, value))

    def problems(self, model):
        extra = sorted(k for k in self.state_dict
                       if k not in self.used_keys and not k.endswith("num_batches_tracked"))
        known = self.seen_vars | {id(m.rate) for m in model.submodules if isinstance(m, DropPath)}
        unported = [w.name for w in model.weights if id(w) not in known]
        problems = [_listing("missing from the state dict", self.missing),
                    _listing("left over in the state dict", extra),
                    _listing("of another shape (torch -> ours)", self.shapes),
                    _listing("of ours with no torch key", unported)]
        return [p for p in problems if p]


def plan_torch_port(model, state_dict, source="timm"):
    """Checks ``state_dict`` against ``model``'s name map; returns the assignments
    ``[(variable, value)]`` or raises ``TorchPortError`` naming every key that does not fit."""
    if not hasattr(model, "torch_weight_pairs"):
        raise TorchPortError(f"{type(model).__name__} has no timm/torchvision weight mapping.")
    if hasattr(model, "normalize_torch_keys"):
        state_dict = model.normalize_torch_keys(state_dict)
    pairs = list(_expand(model.torch_weight_pairs(source)))
    classifier = getattr(model, "classifier_layer", None)
    port_head = (classifier is not None and
                 _classifier_classes(pairs, state_dict, classifier) == model.num_classes)
    classifiers = [classifier, *getattr(model, "aux_classifier_layers", ())]
    plan = _Plan(state_dict)
    for ours, theirs, transform in pairs:
        if ours is None or (not port_head and any(ours is c for c in classifiers)):
            plan.skip(ours, theirs)
        else:
            plan.add(ours, theirs, transform)
    problems = plan.problems(model)
    if problems:
        raise TorchPortError(f"{model.name} does not fit this {source} state dict (is it the twin "
                             f"of another model?): {'; '.join(problems)}. Nothing was copied.")
    return plan.assignments


def _listing(what, keys):
    if not keys:
        return ""
    shown = ", ".join(keys[:_SHOWN]) + (f", ... ({len(keys)} in all)" if len(keys) > _SHOWN
                                        else "")
    return f"keys {what}: {shown}"


def from_torch(model, state_dict, source="timm", pretrained_cfg=None):
    """Copies a timm / torchvision ``state_dict`` (name -> array or tensor) into ``model``.

    All or nothing: raises ``TorchPortError`` (a ValueError) naming the keys that do not fit and
    leaves the model untouched. ``pretrained_cfg`` (the source's mean/std, crop_pct,
    interpolation) is merged into ``model.pretrained_cfg``. Returns the model.
    """
    state_dict = {k: _to_numpy(v) for k, v in state_dict.items()}
    for var, value in plan_torch_port(model, state_dict, source):
        var.assign(value)
    if pretrained_cfg:
        model.pretrained_cfg = {**model.pretrained_cfg, **pretrained_cfg}
    return model


def _to_numpy(value):
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().float().numpy()
    return np.asarray(value)
