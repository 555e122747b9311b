"""create_model / list_models / model_info, the original collection's names, and clear errors."""
import pytest

import tfcls
from conftest import REPO_ROOT
from tfcls.models import ImageClassifier, Variant, register_family
from tfcls.registry import (SEED_ALIASES, UnknownModelError, markdown_table, model_entry,
                            resolve_name)


def test_list_models_filters_by_pattern():
    assert tfcls.list_models("resnet*_v2") == ["resnet101_v2", "resnet152_v2", "resnet50_v2"]
    assert "vgg16_bn" in tfcls.list_models()
    assert tfcls.list_models("nothing*") == []


def test_seed_aliases_cover_the_original_collection(reference_models):
    seeds = reference_models["seed_models"]
    assert len(seeds) == 48
    assert SEED_ALIASES == reference_models["seed_aliases"]
    for seed in seeds:
        canonical = SEED_ALIASES[seed]
        assert canonical in reference_models["models"]
        if canonical in tfcls.list_models():
            assert resolve_name(seed) == canonical
        else:  # a family still to come says so instead of "unknown"
            with pytest.raises(UnknownModelError, match="does not implement yet"):
                resolve_name(seed)


@pytest.mark.parametrize("alias,canonical", [("ResNet50", "resnet50"), ("ResNetV2_101", "resnet101_v2"),
                                             ("VGG19", "vgg19"), ("RESNET18", "resnet18"),
                                             ("resnetv2_152", "resnet152_v2")])
def test_aliases_and_case_resolve(alias, canonical):
    assert resolve_name(alias) == canonical


def test_create_model_by_seed_name():
    model = tfcls.create_model("ResNetV2_50", num_classes=4, input_size=32)
    assert model.name == "resnet50_v2" and model.pretrained_cfg["architecture"] == "resnet50_v2"
    assert model.pretrained_cfg["input_size"] == 32


def test_model_info(reference_models):
    info = tfcls.model_info("ResNet50")
    assert info["family"] == "ResNet" and "He" in info["paper"]
    assert info["params"] == reference_models["models"]["resnet50"]["trainable_params"]
    assert info["resolution"] == 224 and info["min_resolution"] == 32
    assert info["keras_twin"] == "ResNet50" and info["arch"]["layers"] == (3, 4, 6, 3)
    assert info["pretrained_cfg"]["mean"] == (0.485, 0.456, 0.406)  # trained from scratch
    assert info["keras_preprocessing"]["channel_order"] == "BGR"  # keras' weights: caffe
    assert info["timm_twin"] is None and info["torchvision_twin"] is None
    info["arch"]["layers"] = (1, 1, 1, 1)  # a copy: the registry keeps its row
    assert tfcls.model_info("resnet50")["arch"]["layers"] == (3, 4, 6, 3)


def test_unknown_name_lists_the_closest():
    with pytest.raises(ValueError, match="Unknown model 'resnet5'.*resnet50"):
        tfcls.create_model("resnet5")
    with pytest.raises(ValueError, match="Closest names: .*vgg16"):
        tfcls.model_info("vgg61")


def test_unknown_override_is_named():
    with pytest.raises(ValueError, match="does not take.*widht"):
        tfcls.create_model("resnet18", widht=2)


def test_overrides_reach_the_architecture():
    model = tfcls.create_model("resnet50", num_classes=3, input_size=32, stride_in_1x1=False)
    assert model.blocks[3].conv1.strides == 1 and model.blocks[3].conv2.strides == 2


def test_readme_model_table_matches_the_registry():
    rows = {}
    for line in (REPO_ROOT / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = int(cells[2].replace(",", ""))
    assert rows == {name: tfcls.model_info(name)["params"] for name in tfcls.list_models()}
    assert markdown_table() in (REPO_ROOT / "README.md").read_text()  # weights column included


def test_weight_sources_name_each_variants_imagenet_weights():
    from tfcls.registry import weight_sources

    assert weight_sources("DPN92") == ["timm"]
    assert weight_sources("resnet50") == ["keras"]
    assert weight_sources("resnet18") == ["timm", "torchvision"]
    assert weight_sources("efficientnet_b0") == ["keras", "timm"]
    assert weight_sources("shufflenet_v1_g3_100") == []


def test_variant_rows_check_themselves():
    row = Variant(params=1, keras_twin="MobileNet", keras_kwargs={"alpha": 0.25},
                  keras_preprocessing={"mean": (0.5,) * 3}, pretrained_cfg={"crop_pct": 1.0})
    assert row.reference == "tf_keras.applications.MobileNet(alpha=0.25)"
    assert row.pretrained_cfg["crop_pct"] == 1.0 and row.pretrained_cfg["channel_order"] == "RGB"
    with pytest.raises(ValueError, match="keras_preprocessing"):
        Variant(params=1, keras_twin="MobileNet")
    with pytest.raises(ValueError, match="reference"):
        Variant(params=1)
    with pytest.raises(ValueError, match="registered twice"):
        register_family("VGG", "", ImageClassifier, {"vgg11": Variant(params=1, reference="x")})


def test_the_model_reads_its_input_and_smallest_size_from_its_row():
    entry = model_entry("InceptionNetV3")  # the seed name resolves too
    assert entry.name == "inception_v3" and entry.family == "Inception"
    model = entry.instantiate(num_classes=3)  # not built
    assert model.min_input_size == entry.variant.min_resolution == 75
    assert model.pretrained_cfg == {**entry.variant.pretrained_cfg, "input_size": 299,
                                    "architecture": "inception_v3"}
    assert model.pretrained_cfg["mean"] == (0.485, 0.456, 0.406)  # the default: no row override
    v4 = tfcls.create_model("inception_v4", num_classes=2, input_size=75)
    assert v4.pretrained_cfg["mean"] == (0.5, 0.5, 0.5) and v4.pretrained_cfg["input_size"] == 75
    with pytest.raises(ValueError, match="at least 75"):
        tfcls.create_model("inception_v4", input_size=74)
