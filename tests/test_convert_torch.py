"""timm / torchvision checkpoints ported into tfcls give the twin's logits (and feature maps).

Each twin is built with random weights, batch-norm statistics and biases; its ``state_dict`` is
ported with ``tfcls.convert.from_torch`` and both run in inference mode on the same images. The
smallest variant of each family runs by default, the others under the ``heavy`` marker.
"""
import numpy as np
import pytest

import tfcls
from tfcls.convert import from_torch
from torch_reference import randomized, state_dict, timm, torch, torch_outputs, torchvision

tv = torchvision.models


def _case(variant, source, build, size=64, heavy=False, gamma=(0.5, 1.5)):
    marks = [pytest.mark.heavy] if heavy else []
    return pytest.param(variant, source, build, size, gamma, id=f"{variant}-{source}", marks=marks)


# variant, source of the twin, the twin's builder, image size; smallest of a family by default.
CASES = [
    _case("resnet18", "timm", lambda: timm.create_model("resnet18")),
    _case("resnet18", "torchvision", lambda: tv.resnet18(), heavy=True),
    _case("resnet34", "torchvision", lambda: tv.resnet34(), heavy=True),
    _case("vgg11_bn", "timm", lambda: timm.create_model("vgg11_bn")),
    *[_case(f"vgg{d}{bn}", "torchvision", getattr(tv, f"vgg{d}{bn}"), heavy=True)
      for d in (11, 13, 16, 19) for bn in ("", "_bn")],
    _case("vgg16", "timm", lambda: timm.create_model("vgg16"), heavy=True),
    _case("densenet121", "timm", lambda: timm.create_model("densenet121")),
    _case("densenet121", "torchvision", lambda: tv.densenet121(), heavy=True),
    *[_case(f"densenet{d}", "torchvision", getattr(tv, f"densenet{d}"), heavy=True)
      for d in (161, 169, 201)],
    _case("shufflenet_v2_050", "torchvision", lambda: tv.shufflenet_v2_x0_5()),
    *[_case(f"shufflenet_v2_{w}", "torchvision", getattr(tv, f"shufflenet_v2_x{x}"), heavy=True)
      for w, x in (("100", "1_0"), ("150", "1_5"), ("200", "2_0"))],
    _case("ghostnet_050", "timm", lambda: timm.create_model("ghostnet_050")),
    *[_case(f"ghostnet_{w}", "timm", lambda w=w: timm.create_model(f"ghostnet_{w}"), heavy=True)
      for w in ("100", "130")],
    _case("convmixer_768_32", "timm", lambda: timm.create_model("convmixer_768_32"), size=56),
    _case("convmixer_1536_20", "timm", lambda: timm.create_model("convmixer_1536_20"), heavy=True),
    _case("convmixer_1024_20", "timm", lambda: timm.create_model("convmixer_1024_20_ks9_p14"),
          heavy=True),
    _case("dpn68", "timm", lambda: timm.create_model("dpn68")),
    *[_case(f"dpn{d}", "timm", lambda d=d: timm.create_model(f"dpn{d}"), heavy=True)
      for d in (92, 98, 107, 131)],
    _case("inception_v1", "torchvision", lambda: tv.googlenet(aux_logits=False, init_weights=True),
          size=96),
    _case("inception_v4", "timm", lambda: timm.create_model("inception_v4"), size=75),
    _case("efficientnet_b0", "timm", lambda: timm.create_model("tf_efficientnet_b0")),
    _case("convnext_tiny", "timm", lambda: timm.create_model("convnext_tiny")),
    *[_case(f"convnext_{size}", "timm", lambda size=size: timm.create_model(f"convnext_{size}"),
            heavy=True) for size in ("small", "base", "large", "xlarge")],
    # From B4 on, the random blocks (32 to 55) grow the activations to ~1e4 and float32 rounding
    # with them (B6 once differed by 60% of its logits; each block alone matches to 2e-5):
    # smaller batch-norm scales keep them in range.
    *[_case(f"efficientnet_b{i}", "timm", lambda i=i: timm.create_model(f"tf_efficientnet_b{i}"),
            heavy=True, gamma=(0.5, 1.5) if i < 4 else (0.2, 0.6)) for i in range(1, 8)],
    _case("mobilenet_v3_small_100", "timm",
          lambda: timm.create_model("tf_mobilenetv3_small_100")),
    *[_case(f"mobilenet_v3_{arch}", "timm", lambda arch=arch: timm.create_model(
        f"tf_mobilenetv3_{arch}"), heavy=True)
      for arch in ("small_075", "small_minimal_100", "large_100", "large_075",
                   "large_minimal_100")],
]


def _images(size, seed=0):
    return np.random.default_rng(seed).normal(0, 1, (2, size, size, 3)).astype(np.float32)


def assert_close(ours, theirs, what):
    scale = max(float(np.max(np.abs(theirs))), 1.0)
    err = float(np.max(np.abs(np.asarray(ours) - theirs)))
    assert err <= 1e-4 * scale, f"{what}: max |difference| {err:.3g} at scale {scale:.3g}"


@pytest.mark.parametrize("variant, source, build, size, gamma", CASES)
def test_port_gives_the_twins_logits(variant, source, build, size, gamma):
    twin = randomized(build(), gamma=gamma)
    images = _images(size)
    model = from_torch(tfcls.create_model(variant, input_size=size), state_dict(twin), source)
    assert_close(model(images, training=False), torch_outputs(twin, images), variant)



# variant: how many of our five feature maps (strides 2..32) timm's forward_intermediates gives
# too. timm taps VGG before each max-pool (ours after: only the last agrees) and DPN's last map
# before the final ReLU (ours after it).
FEATURE_CASES = {"resnet18": 5, "densenet121": 5, "dpn68": 4, "vgg11_bn": 1, "inception_v4": 5}


@pytest.mark.parametrize("variant", [pytest.param(name, marks=[pytest.mark.heavy] * (
    name in ("inception_v4", "vgg11_bn"))) for name in sorted(FEATURE_CASES)])
def test_ported_feature_maps_equal_timms(variant):
    """features_only: ours, ported from the twin's state dict, against the same-shaped maps of
    timm's ``forward_intermediates`` (timm taps a few at other points: those are not compared)."""
    twin = randomized(timm.create_model(variant))
    size = 75 if variant == "inception_v4" else 64
    model = from_torch(tfcls.create_model(variant, input_size=size, features_only=True),
                       state_dict(twin), "timm")
    images = _images(size, seed=1)
    ours = [np.asarray(m) for m in model(images, training=False)]
    with torch.no_grad():
        theirs = twin.forward_intermediates(torch.from_numpy(images.transpose(0, 3, 1, 2)),
                                            intermediates_only=True)
    theirs = [t.numpy().transpose(0, 2, 3, 1) for t in theirs]
    compared = 0
    for index, mine in enumerate(ours):
        same = [t for t in theirs if t.shape == mine.shape]
        if same and np.max(np.abs(same[-1] - mine)) <= 1e-4 * max(np.abs(same[-1]).max(), 1):
            compared += 1
    assert compared == FEATURE_CASES[variant]


def test_googlenet_auxiliary_heads_port_too():
    """Inception-v1's auxiliary classifiers (torch flattens their 4x4 map channel-first)."""
    twin = randomized(tv.googlenet(aux_logits=True, init_weights=True))
    model = from_torch(tfcls.create_model("inception_v1", input_size=96, aux_logits=True),
                       state_dict(twin), "torchvision")
    images = _images(96, seed=2)
    taps = {}
    hooks = [getattr(twin, name).register_forward_hook(
        lambda module, args, out, name=name: taps.setdefault(name, out))
        for name in ("inception4a", "inception4d")]
    logits = torch_outputs(twin, images)
    for hook in hooks:
        hook.remove()
    _, aux = model._run_body(images, training=False, with_aux=True)
    with torch.no_grad():
        theirs = [twin.aux1(taps["inception4a"]).numpy(), twin.aux2(taps["inception4d"]).numpy()]
    for index, (a, b) in enumerate(zip(aux, theirs)):
        assert_close(a, b, f"auxiliary head {index + 1}")
    assert_close(model(images, training=False), logits, "logits")
