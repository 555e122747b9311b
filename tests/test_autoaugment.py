"""AutoAugment's ImageNet policy: the paper's 25 sub-policies, magnitudes on its 10 bins, each
step applied with its probability, stateless; shapes, dtype and range kept."""
import numpy as np
import pytest
import tensorflow as tf

from tfcls.data import autoaugment, randaugment


def _image(seed=0, size=12):
    return tf.constant(np.random.default_rng(seed).random((size, size, 3)), tf.float32)


def test_the_imagenet_policy_has_25_two_step_sub_policies_of_known_ops():
    policy = autoaugment.IMAGENET_POLICY
    assert len(policy) == 25 and all(len(steps) == 2 for steps in policy)
    for steps in policy:
        for name, prob, magnitude_bin in steps:
            assert name in autoaugment._OPS and 0.0 <= prob <= 1.0 and 0 <= magnitude_bin <= 9
    assert policy[0] == (("Posterize", 0.4, 8), ("Rotate", 0.6, 9))  # the paper's first row
    assert policy[17] == (("Sharpness", 0.4, 7), ("Invert", 0.6, 8))


def test_keeps_shape_dtype_and_range_and_is_a_function_of_the_seed():
    image = _image()
    outputs = []
    for i in range(40):
        seed = tf.constant([i, 7], tf.int64)
        out = autoaugment.auto_augment(image, seed)
        assert out.shape == image.shape and out.dtype == tf.float32
        assert 0.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0
        np.testing.assert_array_equal(out, autoaugment.auto_augment(image, seed))
        outputs.append(out.numpy())
    distinct = {o.tobytes() for o in outputs}
    assert len(distinct) >= 12  # sub-policies and their coin flips vary with the seed


def test_magnitude_bins_map_to_the_papers_ranges():
    image = _image(1)
    bits4 = autoaugment.apply_step(image, "Posterize", 8).numpy() * 255  # bin 8 -> 4 bits
    np.testing.assert_allclose(np.round(bits4) % 16, 0)
    assert (np.round(autoaugment.apply_step(image, "Posterize", 1).numpy() * 255) % 2).any()
    np.testing.assert_allclose(autoaugment.apply_step(image, "Rotate", 9),
                               randaugment.rotate(image, 30.0), atol=1e-6)
    np.testing.assert_allclose(autoaugment.apply_step(image, "Rotate", 9, positive=False),
                               randaugment.rotate(image, -30.0), atol=1e-6)
    threshold = 1 - 5 / 9  # bin 5
    expected = np.where(image.numpy() < threshold, image.numpy(), 1 - image.numpy())
    np.testing.assert_allclose(autoaugment.apply_step(image, "Solarize", 5), expected)
    np.testing.assert_allclose(autoaugment.apply_step(image, "Invert", 4), 1 - image.numpy())
    np.testing.assert_allclose(autoaugment.apply_step(image, "Color", 0), image, atol=1e-6)
    np.testing.assert_allclose(autoaugment.apply_step(image, "Contrast", 9),
                               randaugment.contrast(image, 1.9), atol=1e-6)


@pytest.mark.parametrize("prob", [0.0, 0.6, 1.0])
def test_each_step_applies_with_its_probability(prob):
    image = _image(2)
    changed = [not np.array_equal(autoaugment.apply_sub_policy(
        image, (("Invert", prob, 0),), tf.constant([i, 3], tf.int64)), image)
        for i in range(300)]
    assert abs(np.mean(changed) - prob) < 0.08


def test_the_training_pipeline_applies_it_resumably_and_refuses_both_policies(tmp_path):
    from PIL import Image

    from tfcls import data

    files = []
    for i in range(6):
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (20, 24, 3), np.uint8)).save(
            path)
        files.append(str(path))
    options = dict(image_size=8, global_batch_size=3, mean=(0.5,) * 3, std=(0.5,) * 3,
                   threads=1)
    input_fn = data.build_train_input_fn(files, [0, 1] * 3, auto_augment="imagenet", **options)
    plain = data.build_train_input_fn(files, [0, 1] * 3, **options)
    full = [x.numpy() for x, _ in input_fn(0).take(4)]
    assert all(x.shape == (3, 8, 8, 3) for x in full)
    assert any(not np.array_equal(a, b.numpy()) for a, (b, _) in zip(full, plain(0).take(4)))
    for a, (b, _) in zip(full[2:], input_fn(2).take(2)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="RandAugment or AutoAugment, not both"):
        data.build_train_input_fn(files, [0] * 6, auto_augment="imagenet",
                                  rand_augment=(2, 9, 0.5), **options)
    with pytest.raises(ValueError, match="auto_augment must be one of"):
        data.build_train_input_fn(files, [0] * 6, auto_augment="cifar", **options)
