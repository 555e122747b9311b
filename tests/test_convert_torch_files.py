"""The torch port's refusals, local files (.safetensors, .pth), the offline errors, and the twin
table against the installed timm / torchvision."""
import os
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest

import tfcls
from conftest import REPO_ROOT
from tfcls.convert import PretrainedUnavailableError, TorchPortError, from_torch, torch_twin
from torch_reference import randomized, state_dict, timm, torch, torch_outputs, torchvision

SIZE = 64


@pytest.fixture(scope="module")
def resnet18_twin():
    return randomized(timm.create_model("resnet18"))


def _weights(model):
    return [w.numpy().copy() for w in model.weights]


def _refused(model, weights, *expected):
    before = _weights(model)
    with pytest.raises(TorchPortError) as info:
        from_torch(model, weights)
    message = str(info.value)
    assert "\n" not in message and "Nothing was copied" in message
    for text in expected:
        assert text in message
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(model))), "half-copied"


def test_a_missing_key_is_refused(resnet18_twin):
    weights = state_dict(resnet18_twin)
    del weights["layer2.0.downsample.1.running_var"]
    _refused(tfcls.create_model("resnet18", input_size=SIZE), weights,
             "missing from the state dict: layer2.0.downsample.1.running_var")


def test_an_extra_key_is_refused(resnet18_twin):
    weights = {**state_dict(resnet18_twin), "layer5.0.conv1.weight": np.zeros((1, 1, 1, 1))}
    _refused(tfcls.create_model("resnet18", input_size=SIZE), weights,
             "left over in the state dict: layer5.0.conv1.weight")


def test_a_wrong_shape_is_refused(resnet18_twin):
    weights = state_dict(resnet18_twin)
    weights["layer3.1.conv2.weight"] = weights["layer3.1.conv2.weight"][:, :, :1, :1]
    _refused(tfcls.create_model("resnet18", input_size=SIZE), weights,
             "of another shape", "layer3.1.conv2.weight (256, 256, 1, 1)")


def test_another_family_is_refused(resnet18_twin):
    _refused(tfcls.create_model("densenet121", input_size=SIZE), state_dict(resnet18_twin),
             "missing from the state dict: features.conv0.weight", "left over", "conv1.weight")


def test_a_keras_layout_variant_is_refused():
    with pytest.raises(ValueError, match="keras' layout"):
        from_torch(tfcls.create_model("resnet50", input_size=SIZE), {})


def test_another_class_count_ports_the_backbone(resnet18_twin):
    images = np.random.default_rng(1).normal(size=(2, SIZE, SIZE, 3)).astype(np.float32)
    model = from_torch(tfcls.create_model("resnet18", num_classes=0, input_size=SIZE),
                       state_dict(resnet18_twin))
    resnet18_twin.reset_classifier(0)
    try:
        np.testing.assert_allclose(model(images), torch_outputs(resnet18_twin, images),
                                   atol=1e-4 * 10)
    finally:
        resnet18_twin.reset_classifier(1000)
    fresh = tfcls.create_model("resnet18", num_classes=10, input_size=SIZE)
    head = fresh.classifier_layer.kernel.numpy().copy()
    from_torch(fresh, state_dict(resnet18_twin))
    assert np.array_equal(fresh.classifier_layer.kernel.numpy(), head)  # kept, not ported


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_a_local_file_ports_through_create_model(resnet18_twin, tmp_path, suffix):
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        from safetensors.numpy import save_file
        save_file(state_dict(resnet18_twin), str(path))
    else:
        torch.save(resnet18_twin.state_dict(), path)
    images = np.random.default_rng(2).normal(size=(2, SIZE, SIZE, 3)).astype(np.float32)
    model = tfcls.create_model("resnet18", input_size=SIZE, pretrained=str(path))
    theirs = torch_outputs(resnet18_twin, images)
    np.testing.assert_allclose(model(images), theirs, atol=1e-4 * np.abs(theirs).max())
    assert model.pretrained_cfg["interpolation"] == "bicubic"  # timm's, whose layout fit first


def test_launch_train_fine_tunes_from_a_weight_file(resnet18_twin, small_folder, tmp_path):
    """``launch.train --pretrained=<file>`` with another class count: the backbone is the file's
    (a learning rate of 1e-12 leaves it as ported), the classifier is new."""
    from safetensors.numpy import save_file

    from tfcls.checkpoint import restore_for_inference

    weights = tmp_path / "resnet18.safetensors"
    save_file(state_dict(resnet18_twin), str(weights))
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "launch.train", "--model=resnet18", f"--pretrained={weights}",
         "--img_size=32", "--batch_size=4", "--steps=1", "--optimizer=sgd", "--lr=1e-12",
         "--weight_decay=0", f"--data_dir={small_folder}", f"--model_dir={run}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"starting from {weights} ImageNet weights" in result.stdout
    model = tfcls.create_model("resnet18", num_classes=2, input_size=32)
    restore_for_inference(str(run), model, use_ema=False)
    theirs = state_dict(resnet18_twin)["conv1.weight"].transpose(2, 3, 1, 0)
    np.testing.assert_allclose(model.stem.conv.kernel.numpy(), theirs, atol=1e-6)


def test_timm_offline_names_the_file(monkeypatch, tmp_path):
    import huggingface_hub.constants as hub
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(PretrainedUnavailableError) as info:
        tfcls.create_model("dpn68", input_size=SIZE, pretrained="timm")
    message = str(info.value)
    assert "\n" not in message
    assert "https://huggingface.co/timm/dpn68.mx_in1k/resolve/main/model.safetensors" in message
    assert "pretrained='path/to/model.safetensors'" in message


def test_torchvision_offline_names_the_file_and_finds_it_there(monkeypatch, tmp_path):
    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    with pytest.raises(PretrainedUnavailableError) as info:
        tfcls.create_model("shufflenet_v2_050", pretrained="torchvision")
    target = tmp_path / "hub" / "checkpoints" / "shufflenetv2_x0.5-f707e7126e.pth"
    assert str(info.value).endswith(f"put it at {target}.")
    assert "download.pytorch.org/models/shufflenetv2_x0.5-f707e7126e.pth" in str(info.value)
    twin = randomized(torchvision.models.shufflenet_v2_x0_5())
    torch.save(twin.state_dict(), target)
    images = np.random.default_rng(3).normal(size=(1, SIZE, SIZE, 3)).astype(np.float32)
    model = tfcls.create_model("shufflenet_v2_050", input_size=SIZE, pretrained="torchvision")
    theirs = torch_outputs(twin, images)
    np.testing.assert_allclose(model(images), theirs, atol=1e-4 * np.abs(theirs).max())
    assert model.pretrained_cfg["interpolation"] == "bilinear"


def test_a_variant_without_that_twin_says_which_it_has():
    with pytest.raises(ValueError, match="dpn68 has no torchvision twin.*pretrained='timm'"):
        tfcls.create_model("dpn68", input_size=SIZE, pretrained="torchvision")


def _timm_cfg(twin_id):
    return timm.models.get_pretrained_cfg(twin_id.removeprefix("timm/")).to_dict()


def _torchvision_weights(twin_id):
    builder, enum = twin_id.split()
    return torchvision.models.get_model_weights(builder)[enum]


TWINNED = [name for name in tfcls.list_models()
           if tfcls.model_info(name)["timm_twin"] or tfcls.model_info(name)["torchvision_twin"]]


@pytest.mark.parametrize("variant", TWINNED)
def test_the_twin_table_matches_the_sources(variant):
    timm_twin, tv_twin = torch_twin(variant, "timm"), torch_twin(variant, "torchvision")
    assert timm_twin or tv_twin
    if timm_twin:
        theirs = _timm_cfg(timm_twin.id)
        assert theirs["hf_hub_id"] == timm_twin.id
        for key in ("mean", "std", "crop_pct", "interpolation"):
            assert np.allclose(theirs[key], timm_twin.pretrained_cfg[key]) if key != \
                "interpolation" else theirs[key] == timm_twin.pretrained_cfg[key], key
    if tv_twin:
        weights = _torchvision_weights(tv_twin.id)
        assert weights.url == tv_twin.url
        transforms = weights.transforms()
        cfg = tv_twin.pretrained_cfg
        assert cfg["crop_pct"] == transforms.crop_size[0] / transforms.resize_size[0]
        assert cfg["interpolation"] == transforms.interpolation.value
        if tv_twin.id.startswith("googlenet"):  # transform_input=True: (x - 0.5) / 0.5 inside
            assert cfg["mean"] == (0.5,) * 3 and cfg["std"] == (0.5,) * 3
        else:
            assert np.allclose(cfg["mean"], transforms.mean)


def test_without_torch_a_pth_file_says_what_to_install(monkeypatch, tmp_path):
    import sys

    from tfcls.convert import read_state_dict
    path = tmp_path / "weights.pth"
    path.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails
    with pytest.raises(PretrainedUnavailableError, match="only PyTorch reads: pip install torch"):
        read_state_dict(path)
    with pytest.raises(PretrainedUnavailableError, match="only PyTorch reads: pip install torch"):
        tfcls.create_model("shufflenet_v2_050", input_size=SIZE, pretrained="torchvision")


def test_pretrained_timm_ports_the_file_from_the_hub_cache(resnet18_twin, monkeypatch, tmp_path):
    """The hub's cache layout (refs/main -> snapshots/<commit>/model.safetensors), offline."""
    import huggingface_hub.constants as hub
    from safetensors.numpy import save_file
    repo = tmp_path / "models--timm--resnet18.a1_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    save_file(state_dict(resnet18_twin), str(repo / "snapshots" / ("0" * 40) / "model.safetensors"))
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    images = np.random.default_rng(4).normal(size=(2, SIZE, SIZE, 3)).astype(np.float32)
    model = tfcls.create_model("resnet18", input_size=SIZE, pretrained="timm")
    theirs = torch_outputs(resnet18_twin, images)
    np.testing.assert_allclose(model(images), theirs, atol=1e-4 * np.abs(theirs).max())
    assert model.pretrained_cfg["crop_pct"] == 0.95
