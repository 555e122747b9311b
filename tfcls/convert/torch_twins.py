"""The timm / torchvision checkpoints that variants name as their twins, and the input their
weights expect.

A variant's row (``tfcls.models.Variant``) names its timm twin (a Hugging Face hub id,
``timm/<arch>.<tag>``, whose ``model.safetensors`` holds the weights) and its torchvision twin
(``<builder> <weights enum>``, a ``.pth`` file on torchvision's download site);
``torch_twin(variant, source)`` is the one way to read them with their files and inputs. The pretrained configurations are the sources' own (timm's ``pretrained_cfg``,
torchvision's ``weights.transforms()``); a test compares them with the installed timm/torchvision.
"""
import dataclasses

_TV_URL = "https://download.pytorch.org/models/"
_IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
_HALF = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}  # [-1, 1] inputs
# timm's IMAGENET_DPN_MEAN/STD: the MXNet original's (124, 117, 104) and scale 0.0167.
_DPN = {"mean": (124 / 255, 117 / 255, 104 / 255), "std": (1 / (0.0167 * 255),) * 3}


def _cfg(norm, crop_pct=0.875, interpolation="bicubic"):
    return {**norm, "crop_pct": crop_pct, "interpolation": interpolation, "channel_order": "RGB"}


# torchvision's classification transforms: resize to 256 (232 for ShuffleNet v2 1.5x/2.0x),
# center-crop 224, bilinear.
_TV = _cfg(_IMAGENET, 224 / 256, "bilinear")
_TV_232 = _cfg(_IMAGENET, 224 / 232, "bilinear")

_MOBILENET_V3 = ("small_100", "small_075", "small_minimal_100", "large_100", "large_075",
                 "large_minimal_100")

_CONVNEXT = ("tiny", "small", "base", "large", "xlarge")

# twin id -> (pretrained cfg, download address: None for a timm hub id)
_CHECKPOINTS = {
    "timm/resnet18.a1_in1k": (_cfg(_IMAGENET, 0.95), None),
    "timm/resnet34.a1_in1k": (_cfg(_IMAGENET, 0.95), None),
    "resnet18 IMAGENET1K_V1": (_TV, "resnet18-f37072fd.pth"),
    "resnet34 IMAGENET1K_V1": (_TV, "resnet34-b627a593.pth"),
    **{f"timm/vgg{d}{bn}.tv_in1k": (_cfg(_IMAGENET, interpolation="bilinear"), None)
       for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    "vgg11 IMAGENET1K_V1": (_TV, "vgg11-8a719046.pth"),
    "vgg13 IMAGENET1K_V1": (_TV, "vgg13-19584684.pth"),
    "vgg16 IMAGENET1K_V1": (_TV, "vgg16-397923af.pth"),
    "vgg19 IMAGENET1K_V1": (_TV, "vgg19-dcbb9e9d.pth"),
    "vgg11_bn IMAGENET1K_V1": (_TV, "vgg11_bn-6002323d.pth"),
    "vgg13_bn IMAGENET1K_V1": (_TV, "vgg13_bn-abd245e5.pth"),
    "vgg16_bn IMAGENET1K_V1": (_TV, "vgg16_bn-6c64b313.pth"),
    "vgg19_bn IMAGENET1K_V1": (_TV, "vgg19_bn-c79401a0.pth"),
    "timm/densenet121.ra_in1k": (_cfg(_IMAGENET), None),
    **{f"timm/densenet{d}.tv_in1k": (_cfg(_IMAGENET), None) for d in (161, 169, 201)},
    "densenet121 IMAGENET1K_V1": (_TV, "densenet121-a639ec97.pth"),
    "densenet161 IMAGENET1K_V1": (_TV, "densenet161-8d451a50.pth"),
    "densenet169 IMAGENET1K_V1": (_TV, "densenet169-b2777c0a.pth"),
    "densenet201 IMAGENET1K_V1": (_TV, "densenet201-c1103571.pth"),
    # torchvision's GoogLeNet weights come with transform_input=True, which turns ImageNet-
    # normalized input into (x - 0.5) / 0.5: that is the input they expect.
    "googlenet IMAGENET1K_V1": ({**_TV, **_HALF}, "googlenet-1378be20.pth"),
    "shufflenet_v2_x0_5 IMAGENET1K_V1": (_TV, "shufflenetv2_x0.5-f707e7126e.pth"),
    "shufflenet_v2_x1_0 IMAGENET1K_V1": (_TV, "shufflenetv2_x1-5666bf0f80.pth"),
    "shufflenet_v2_x1_5 IMAGENET1K_V1": (_TV_232, "shufflenetv2_x1_5-3c479a10.pth"),
    "shufflenet_v2_x2_0 IMAGENET1K_V1": (_TV_232, "shufflenetv2_x2_0-8be3c8ee.pth"),
    "timm/inception_v4.tf_in1k": (_cfg(_HALF), None),
    **{f"timm/dpn{d}.mx_in1k": (_cfg(_DPN), None) for d in (68, 92, 98, 107, 131)},
    "timm/ghostnet_100.in1k": (_cfg(_IMAGENET), None),
    **{f"timm/convmixer_{arch}.in1k": (_cfg(_IMAGENET, 0.96), None)
       for arch in ("1536_20", "768_32", "1024_20_ks9_p14")},
    # TF-ported (same layout as keras': "same" padding, epsilon 1e-3): EfficientNet with
    # AutoAugment, as keras' weights, and MobileNet v3.
    **{f"timm/tf_efficientnet_b{i}.aa_in1k": (_cfg(_IMAGENET, crop), None)
       for i, crop in enumerate((0.875, 0.882, 0.89, 0.904, 0.922, 0.934, 0.942, 0.949))},
    **{f"timm/tf_mobilenetv3_{arch}.in1k": (_cfg(_HALF, interpolation="bilinear"), None)
       for arch in _MOBILENET_V3},
    # ConvNeXt pre-trained on ImageNet-22k and fine-tuned on 1k (timm also has fb_in1k ones).
    **{f"timm/convnext_{size}.fb_in22k_ft_in1k": (_cfg(_IMAGENET), None) for size in _CONVNEXT},
}

SOURCES = ("timm", "torchvision")


@dataclasses.dataclass(frozen=True)
class TorchTwin:
    """One checkpoint: ``source`` "timm" or "torchvision", ``id`` as the row names it, ``url`` (a
    torchvision file's address; None for a hub id), ``filename`` (its name in the cache), and the
    ``pretrained_cfg`` (mean/std on [0, 1] pixels, crop_pct, interpolation) its weights expect."""
    source: str
    id: str
    url: str
    filename: str
    pretrained_cfg: dict


def torch_twin(variant, source):
    """The ``source`` ("timm" / "torchvision") twin of ``variant``, or None if it has none."""
    if source not in SOURCES:
        raise ValueError(f"Unknown weight source {source!r}: one of {SOURCES}.")
    from tfcls.registry import model_entry  # the variant rows name the twins
    row = model_entry(variant).variant
    twin_id = row.timm_twin if source == "timm" else row.torchvision_twin
    if twin_id is None:
        return None
    cfg, file = _CHECKPOINTS[twin_id]
    if source == "timm":
        return TorchTwin(source, twin_id, None, "model.safetensors", dict(cfg))
    return TorchTwin(source, twin_id, _TV_URL + file, file, dict(cfg))
