"""Weights ported from tf_keras.applications give the keras model's logits.

The keras models are built with ``weights=None`` (no download) and every weight, batch-norm
statistics included, is randomized before porting, so each tensor's place is checked.
"""
import numpy as np
import pytest
import tf_keras

import tfcls
from conftest import one_per_code_path
from tfcls.convert import from_keras_applications
from tfcls.registry import model_entries, model_entry

# Every registered variant with a keras twin, ported at a small size (keras' VGG flatten needs 224;
# a family whose twin needs more states it in PORT_SIZE).
PORT_SIZE = {"vgg16": 224, "vgg19": 224, "xception": 71}
PORTED = [name for name, e in model_entries().items() if e.variant.keras_twin]


def _randomize(keras_model, rng):
    for layer in keras_model.layers:
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]  # keras' Inception nets have no gamma (scale=False)
            gamma = [rng.uniform(0.5, 1.5, n)] if layer.scale else []
            layer.set_weights(gamma + [rng.normal(0, 0.1, n), rng.normal(0, 0.1, n),
                                       rng.uniform(0.5, 1.5, n)])
        elif layer.weights:  # kernels keep keras' random init; biases become non-zero
            layer.set_weights([w if w.ndim > 1 else rng.normal(0, 0.05, w.shape)
                               for w in layer.get_weights()])


def _match_inner_normalization(keras_model, preprocessing):
    """keras' EfficientNet holds its input normalization as Normalization weights that only its
    ImageNet file fills (``weights=None`` leaves mean 0, variance 1); set them to the recorded
    mean/std, the normalization those weights apply."""
    for layer in keras_model.layers:
        if isinstance(layer, tf_keras.layers.Normalization) and layer.weights:
            mean, variance, count = layer.get_weights()
            layer.set_weights([np.reshape(preprocessing["mean"], mean.shape),
                               np.reshape(np.square(preprocessing["std"]), variance.shape), count])


def _keras_input(keras_model, images, preprocessing):
    """The raw [0, 255] pixels behind ``images`` when the keras twin normalizes inside (keras'
    EfficientNet and ConvNeXt start with Rescaling/Normalization layers); else ``images``."""
    inside = (tf_keras.layers.Rescaling, tf_keras.layers.Normalization)
    if not any(isinstance(layer, inside) for layer in keras_model.layers):
        return images
    assert preprocessing["channel_order"] == "RGB"
    return (images * np.float32(preprocessing["std"]) + np.float32(preprocessing["mean"])) * 255


def _keras_model(keras_name, size, **kwargs):
    return getattr(tf_keras.applications, keras_name)(
        weights=None, input_shape=(size, size, 3), classifier_activation=None, **kwargs)


@pytest.mark.parametrize("name", one_per_code_path(PORTED))
def test_ported_weights_reproduce_keras_logits(name):
    """Random weights and batch-norm statistics in the keras twin; each side gets its own input
    (keras models that normalize inside get the raw pixels, tfcls the normalized ones)."""
    row = model_entry(name).variant
    size = PORT_SIZE.get(name, max(64, row.min_resolution))
    rng = np.random.default_rng(0)
    tf_keras.utils.set_random_seed(0)  # keras' kernel init too: the same check on every run
    keras_model = _keras_model(row.keras_twin, size, **row.keras_kwargs)
    _randomize(keras_model, rng)
    _match_inner_normalization(keras_model, row.keras_preprocessing)
    model = tfcls.create_model(name, input_size=size)
    from_keras_applications(model, keras_model, row.keras_preprocessing)
    images = rng.normal(0, 1, (2, size, size, 3)).astype(np.float32)
    keras_input = _keras_input(keras_model, images, row.keras_preprocessing)
    expected = keras_model(keras_input).numpy()
    got = model(images).numpy()
    assert np.abs(expected).max() > 1e-2  # a non-trivial output
    # 1e-4 at unit scale: float32 rounding grows with depth and logit size (EfficientNet-B7 with
    # keras' unseeded init reached logits of ~200 at a relative difference of ~1e-5).
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * scale)
    for key in ("mean", "std", "channel_order"):
        assert model.pretrained_cfg[key] == row.keras_preprocessing[key]


def test_backbone_only_port_keeps_our_head():
    keras_model = _keras_model("ResNet50", 64, include_top=False)
    model = tfcls.create_model("resnet50", num_classes=5, input_size=64)
    head = [v.numpy() for v in model.head.trainable_variables]
    from_keras_applications(model, keras_model)
    np.testing.assert_array_equal(model.stem.conv.kernel.numpy(),
                                  keras_model.get_layer("conv1_conv").kernel.numpy())
    for before, after in zip(head, model.head.trainable_variables):
        np.testing.assert_array_equal(before, after.numpy())


def test_mismatched_architecture_is_refused():
    keras_model = _keras_model("ResNet50V2", 64)
    model = tfcls.create_model("resnet50", input_size=64)
    with pytest.raises(ValueError, match="has no layer 'conv1_bn'"):
        from_keras_applications(model, keras_model)


def test_pretrained_without_keras_twin_is_refused():
    with pytest.raises(ValueError, match="no tf_keras.applications twin"):
        tfcls.create_model("resnet18", pretrained="keras", input_size=32)


def test_pretrained_keras_ports_imagenet_weights(monkeypatch):
    """pretrained="keras" asks keras for weights="imagenet" and ports them (faked: no network)."""
    asked = {}
    real = tf_keras.applications.ResNet50V2

    def fake_resnet50_v2(weights, include_top):
        asked.update(weights=weights, include_top=include_top)
        keras_model = real(weights=None, include_top=include_top, input_shape=(64, 64, 3))
        _randomize(keras_model, np.random.default_rng(1))
        fake_resnet50_v2.model = keras_model
        return keras_model

    monkeypatch.setattr(tf_keras.applications, "ResNet50V2", fake_resnet50_v2)
    model = tfcls.create_model("ResNetV2_50", pretrained="keras", input_size=64)
    assert asked == {"weights": "imagenet", "include_top": True}
    images = np.random.default_rng(2).normal(size=(1, 64, 64, 3)).astype(np.float32)
    probabilities = tf_keras.activations.softmax(model(images))  # keras' top ends in a softmax
    np.testing.assert_allclose(probabilities, fake_resnet50_v2.model(images), atol=1e-6)
    assert model.pretrained_cfg["mean"] == (0.5, 0.5, 0.5)  # keras' "tf" preprocessing


def test_pretrained_keras_offline_fails_clearly(monkeypatch):
    def offline(**kwargs):
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(tf_keras.applications, "ResNet50", offline)
    with pytest.raises(RuntimeError, match="needs internet access"):
        tfcls.create_model("resnet50", pretrained="keras", input_size=32)


class _FakeModel:
    num_classes = 1000

    def __init__(self):
        self.pretrained_cfg = {}


@pytest.mark.parametrize("name", PORTED)
def test_load_pretrained_records_the_keras_twins_preprocessing(name, monkeypatch):
    """Through load_pretrained, each keras twin's port records a normalization that equals what
    that keras module's own preprocess_input does to pixels (checked on random pixels).

    Twins whose preprocess_input is the identity normalize inside the model (EfficientNet,
    ConvNeXt); test_ported_weights_reproduce_keras_logits checks those, feeding raw pixels."""
    import importlib

    from tfcls.convert import keras_applications

    row = model_entry(name).variant
    keras_cls = getattr(tf_keras.applications, row.keras_twin)
    preprocess_input = importlib.import_module(keras_cls.__module__).preprocess_input
    monkeypatch.setattr(tf_keras.applications, row.keras_twin,
                        lambda **kwargs: "keras model")
    monkeypatch.setattr(keras_applications, "from_keras_applications",
                        lambda model, keras_model, preprocessing: model.pretrained_cfg.update(
                            preprocessing) or model)
    model = keras_applications.load_pretrained(_FakeModel(), name, "keras")
    pixels = np.random.default_rng(3).uniform(0, 255, (2, 5, 5, 3)).astype(np.float32)
    expected = np.asarray(preprocess_input(pixels.copy()))
    if np.allclose(expected, pixels):
        pytest.skip(f"{row.keras_twin} normalizes inside the model")
    cfg = model.pretrained_cfg
    ordered = pixels[..., ::-1] if cfg["channel_order"] == "BGR" else pixels
    ours = (ordered / 255 - np.float32(cfg["mean"])) / np.float32(cfg["std"])
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-4)
