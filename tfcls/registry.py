"""Model registry: ``create_model``, ``list_models``, ``model_info`` and ``model_entry`` by
canonical or seed name."""
import copy
import dataclasses
import difflib
import fnmatch

from tfcls.layers import set_drop_path_rate
from tfcls.models import all_entries  # importing the families registers them

# The original collection's names -> canonical names (tests/data/reference_models.json keeps the
# reference copy, and a test checks the two agree).
SEED_ALIASES = {
    "ConvMixer": "convmixer_1536_20", "ConvNeXtTiny": "convnext_tiny",
    "ConvNeXtSmall": "convnext_small", "ConvNeXtBase": "convnext_base",
    "ConvNeXtLarge": "convnext_large", "ConvNeXtXLarge": "convnext_xlarge",
    "DenseNet121": "densenet121", "DenseNet169": "densenet169", "DenseNet201": "densenet201",
    "DPN92": "dpn92", "DPN98": "dpn98", "DPN131": "dpn131",
    **{f"EfficientNetB{i}": f"efficientnet_b{i}" for i in range(8)},
    "InceptionNetV1": "inception_v1", "InceptionNetV3": "inception_v3",
    "InceptionResNetV1": "inception_resnet_v1", "InceptionResNetV2": "inception_resnet_v2",
    "MobileNetV1": "mobilenet_v1_100", "MobileNetV2": "mobilenet_v2_100",
    "MobileNetV3Large": "mobilenet_v3_large_100", "MobileNetV3Small": "mobilenet_v3_small_100",
    "GhostNet": "ghostnet_100", "NASNetMobile": "nasnet_mobile", "NASNetLarge": "nasnet_large",
    "ResNet50": "resnet50", "ResNet101": "resnet101", "ResNet152": "resnet152",
    "ResNetV2_50": "resnet50_v2", "ResNetV2_101": "resnet101_v2", "ResNetV2_152": "resnet152_v2",
    "ShuffleNetV1_0_5x": "shufflenet_v1_g3_050", "ShuffleNetV1_1_0x": "shufflenet_v1_g3_100",
    "ShuffleNetV1_1_5x": "shufflenet_v1_g3_150", "ShuffleNetV1_2_0x": "shufflenet_v1_g3_200",
    "ShuffleNetV2_0_5x": "shufflenet_v2_050", "ShuffleNetV2_1_0x": "shufflenet_v2_100",
    "ShuffleNetV2_1_5x": "shufflenet_v2_150", "ShuffleNetV2_2_0x": "shufflenet_v2_200",
    "VGG16": "vgg16", "VGG19": "vgg19", "Xception": "xception",
}


class UnknownModelError(ValueError):
    """A model name that is neither registered nor an alias."""


def model_entries():
    """Every registered ``ModelEntry`` (name, family, paper, model_class, variant: its ``Variant``
    row) by canonical name, family by family."""
    return all_entries()


def model_entry(name):
    """The ``ModelEntry`` of ``name`` (canonical, seed alias, or either in another case)."""
    return all_entries()[resolve_name(name)]


def resolve_name(name):
    """Canonical name for ``name`` (canonical, seed alias, or either in another case)."""
    table = all_entries()
    if name in table:
        return name
    if name in SEED_ALIASES:
        canonical = SEED_ALIASES[name]
    else:
        lowered = {k.lower(): k for k in list(table) + list(SEED_ALIASES)}
        key = lowered.get(str(name).lower())
        if key is None:
            close = difflib.get_close_matches(str(name), list(table) + list(SEED_ALIASES), n=5,
                                              cutoff=0.5)
            hint = f" Closest names: {', '.join(close)}." if close else ""
            raise UnknownModelError(f"Unknown model {name!r}.{hint} "
                                    f"tfcls.list_models() lists them all.")
        canonical = SEED_ALIASES.get(key, key)
    if canonical not in table:
        raise UnknownModelError(f"Model {name!r} ({canonical}) belongs to a family that tfcls "
                                f"does not implement yet. Available: tfcls.list_models().")
    return canonical


def list_models(pattern="*"):
    """Sorted canonical names matching the shell-style ``pattern`` (e.g. ``"resnet*"``)."""
    return sorted(n for n in all_entries() if fnmatch.fnmatch(n, pattern))


def model_info(name):
    """Name, family, paper and the fields of the variant's row (``tfcls.models.Variant``): params,
    reference, arch, resolution, min_resolution, pretrained_cfg, keras_twin, ...; a copy."""
    entry = model_entry(name)
    row = {field.name: copy.copy(getattr(entry.variant, field.name))
           for field in dataclasses.fields(entry.variant)}
    return {"name": entry.name, "family": entry.family, "paper": entry.paper, **row}


def create_model(name, num_classes=1000, input_size=None, drop_path_rate=0.0, include_top=True,
                 features_only=False, pretrained=None, **overrides):
    """Builds the model ``name`` with its variables created.

    Args:
      name: canonical (``"resnet50"``) or original-collection (``"ResNet50"``) name.
      num_classes: classifier width; 0 (or ``include_top=False``) returns pooled features.
      input_size: image side the model is built at (default: the model's resolution).
      drop_path_rate: stochastic-depth rate of the deepest block, shared out over depth by the
        family's rule (``tfcls.layers.DEPTH_RULES``), for the families with residual blocks.
      features_only: return the feature map of every stage (strides 2 to 32) instead of logits.
      pretrained: ImageNet weights: ``"keras"`` (tf_keras.applications), ``"timm"`` or
        ``"torchvision"`` (the variant's twin checkpoint, fetched on first use), or the path of a
        timm/torchvision ``.safetensors`` / ``.pth`` file; ``weight_sources(name)`` lists them.
        With ``num_classes != 1000`` only the backbone is ported.
      **overrides: architecture arguments of the family (e.g. ``drop_rate=0.2``).
    """
    entry = model_entry(name)
    canonical = entry.name
    num_classes = 0 if not include_top else int(num_classes)
    if num_classes < 0:
        raise ValueError(f"num_classes must be >= 0, got {num_classes}.")
    try:
        model = entry.instantiate(num_classes=num_classes, features_only=features_only,
                                  **overrides)
    except TypeError as err:
        if overrides and ("unexpected keyword" in str(err) or "not understood" in str(err)):
            raise ValueError(f"{canonical} does not take the argument(s) {sorted(overrides)}: "
                             f"{err}") from None
        raise
    set_drop_path_rate(model, drop_path_rate)
    size = int(input_size or entry.variant.resolution)
    if size < model.min_input_size:
        raise ValueError(f"input_size {size} is too small for {canonical}: it needs at least "
                         f"{model.min_input_size} px.")
    model.pretrained_cfg = {**model.pretrained_cfg, "input_size": size}
    model.build((None, size, size, 3))
    if pretrained:
        from tfcls.convert import load_pretrained
        load_pretrained(model, canonical, pretrained)
    return model


def weight_sources(name):
    """Where ImageNet weights for ``name`` come from: ``create_model(pretrained=...)`` values."""
    row = model_entry(name).variant
    return [source for source, twin in (("keras", row.keras_twin), ("timm", row.timm_twin),
                                        ("torchvision", row.torchvision_twin)) if twin]


def markdown_table():
    """The README's model table, one row per registered variant (``python -m tfcls.registry``)."""
    aliases = {}
    for alias, canonical in SEED_ALIASES.items():
        aliases.setdefault(canonical, []).append(f"`{alias}`")
    rows = ["| model | also known as | params | reference | resolution | weights |",
            "|---|---|---:|---|---:|---|"]
    for name, entry in all_entries().items():  # family by family, in each family's own order
        row = entry.variant
        sources = []
        for source in weight_sources(name):
            if source == "keras":
                arguments = ", ".join(f"{k}={v!r}" for k, v in row.keras_kwargs.items())
                source = f"keras `{row.keras_twin}{f'({arguments})' if arguments else ''}`"
            sources.append(source)
        rows.append(f"| `{name}` | {', '.join(aliases.get(name, []))} | {row.params:,} | "
                    f"{row.reference} | {row.resolution} | {', '.join(sources) or 'none'} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
