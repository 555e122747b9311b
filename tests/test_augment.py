"""Random erasing and mixup / cutmix (tfcls.data.augment), and the training pipeline using them:
each does what it says on crafted tensors, is a function of its seed, and resumes exactly."""
import numpy as np
import pytest
import tensorflow as tf

from tfcls import data
from tfcls.data import augment

SEED = tf.constant([3, 4], tf.int64)


def _distinct_batch(batch=4, size=16):
    """Image i is the constant i + 1 (every pixel, every channel): which image a pixel came from
    can be read off its value."""
    return tf.constant(np.arange(1, batch + 1, dtype=np.float32)[:, None, None, None]
                       * np.ones((1, size, size, 3), np.float32))


def test_mixup_images_and_targets_are_the_same_convex_combination():
    images, labels = _distinct_batch(), tf.constant([0, 1, 2, 1])
    mixed, targets = augment.mix_batch(images, labels, SEED, num_classes=3, mixup_alpha=0.4)
    lam = float(np.unique(mixed[0].numpy())[0] - 4) / (1 - 4)  # image 0 is lam * 1 + (1-lam) * 4
    assert 0 < lam < 1
    np.testing.assert_allclose(mixed, lam * images + (1 - lam) * images[::-1], atol=1e-5)
    onehot = np.eye(3)[labels.numpy()]
    np.testing.assert_allclose(targets, lam * onehot + (1 - lam) * onehot[::-1], atol=1e-5)
    np.testing.assert_allclose(tf.reduce_sum(targets, -1), 1.0, atol=1e-6)


def test_cutmix_label_weights_equal_the_pasted_area():
    images, labels = _distinct_batch(size=20), tf.constant([0, 1, 2, 3])
    for step in range(5):
        seed = tf.constant([step, 9], tf.int64)
        mixed, targets = augment.mix_batch(images, labels, seed, num_classes=4, cutmix_alpha=1.0)
        mixed = mixed.numpy()
        for i in range(4):
            pasted = np.mean(mixed[i, :, :, 0] == 4 - i)  # pixels from the reversed batch
            kept = np.mean(mixed[i, :, :, 0] == i + 1)
            assert pasted + kept == pytest.approx(1.0)
            rows, cols = np.nonzero(mixed[i, :, :, 0] == 4 - i)
            if rows.size:  # the pasted pixels form one box, the same box in every image
                assert rows.size == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
            assert float(targets[i, i]) == pytest.approx(1 - pasted, abs=1e-6)
            assert float(targets[i, 3 - i]) == pytest.approx(pasted, abs=1e-6)


def test_switch_probability_and_mix_probability():
    images, labels = _distinct_batch(), tf.constant([0, 1, 2, 3])
    kinds = []
    for step in range(40):
        mixed, _ = augment.mix_batch(images, labels, tf.constant([step, 1], tf.int64),
                                     num_classes=4, mixup_alpha=1.0, cutmix_alpha=1.0,
                                     switch_prob=0.5)
        values = np.unique(mixed[0].numpy())
        kinds.append("cutmix" if set(values) <= {1.0, 4.0} else "mixup")
    assert 10 < kinds.count("cutmix") < 30  # about half of 40
    same, targets = augment.mix_batch(images, labels, SEED, num_classes=4, mixup_alpha=1.0,
                                      prob=0.0)
    np.testing.assert_array_equal(same, images)
    np.testing.assert_array_equal(targets, np.eye(4))


def test_mixing_is_a_function_of_its_seed():
    images = tf.random.stateless_normal([4, 8, 8, 3], [0, 0])
    labels = tf.constant([0, 1, 2, 3])
    args = dict(num_classes=4, mixup_alpha=0.8, cutmix_alpha=1.0)
    first = augment.mix_batch(images, labels, SEED, **args)
    again = augment.mix_batch(images, labels, SEED, **args)
    other = augment.mix_batch(images, labels, SEED + 1, **args)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


def test_bad_mixing_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="mixup_alpha and cutmix_alpha must be >= 0"):
        augment.mix_batch(_distinct_batch(), tf.constant([0, 1, 0, 1]), SEED, num_classes=2,
                          mixup_alpha=-1.0)


def test_random_erasing_replaces_one_box_with_noise():
    image = tf.fill([24, 32, 3], 7.0)
    areas = []
    for step in range(20):
        erased = augment.random_erasing(image, tf.constant([step, 5], tf.int64), prob=1.0).numpy()
        assert erased.shape == (24, 32, 3) and erased.dtype == np.float32
        changed = np.any(erased != 7.0, axis=-1)
        rows, cols = np.nonzero(changed)
        if not rows.size:
            continue  # none of the 10 drawn boxes fitted
        assert rows.size == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)  # one solid box
        assert abs(np.mean(erased[changed])) < 0.5 and 0.5 < np.std(erased[changed]) < 1.5
        areas.append(rows.size / (24 * 32))
    assert len(areas) >= 15 and 0.015 <= min(areas) and max(areas) <= 0.36
    kept = augment.random_erasing(image, SEED, prob=0.0)
    np.testing.assert_array_equal(kept, image)


def _train_files(tmp_path, count=8):
    from PIL import Image
    rng = np.random.default_rng(0)
    files = []
    for i in range(count):
        path = tmp_path / f"c{i % 2}" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(path)
        files.append(str(path))
    return files, [i % 2 for i in range(count)]


def test_pipeline_mixes_batches_and_resumes_exactly(tmp_path):
    files, labels = _train_files(tmp_path)
    input_fn = data.build_train_input_fn(
        files, labels, image_size=8, global_batch_size=4, mean=(0.5,) * 3, std=(0.25,) * 3,
        seed=1, threads=1, random_erasing=0.5, mixup_alpha=0.8, cutmix_alpha=1.0,
        num_classes=2)
    full = [(x.numpy(), y.numpy()) for x, y in input_fn(0).take(6)]
    assert all(x.shape == (4, 8, 8, 3) and y.shape == (4, 2) and y.dtype == np.float32
               for x, y in full)
    assert any(np.min(y) > 0 for _, y in full)  # soft targets
    resumed = [(x.numpy(), y.numpy()) for x, y in input_fn(start_step=3).take(3)]
    for (x, y), (x_ref, y_ref) in zip(resumed, full[3:]):
        np.testing.assert_array_equal(x, x_ref)
        np.testing.assert_array_equal(y, y_ref)
    with pytest.raises(ValueError, match="pass num_classes"):
        data.build_train_input_fn(files, labels, image_size=8, global_batch_size=4,
                                  mean=(0.5,) * 3, std=(0.25,) * 3, mixup_alpha=0.8)


def test_trainer_learns_from_mixed_soft_targets():
    """The soft targets reach the loss (dense targets) and training accuracy (their argmax)."""
    import trainers
    from test_trainer_helpers import tiny_dataset, tiny_model

    def mix(step, batch):
        return augment.mix_batch(*batch, tf.stack([step, tf.constant(0, tf.int64)]),
                                 num_classes=4, mixup_alpha=0.4, cutmix_alpha=1.0)

    batches = tiny_dataset(8, num_images=8).take(1).cache().repeat().enumerate().map(mix)
    config = trainers.TrainConfig.from_flat(
        total_steps=30, global_batch_size=8, optimizer="adamw", learning_rate=0.01,
        schedule="constant", steps_per_loop=10, jit_compile=False, weight_decay=0.0,
        label_smoothing=0.1)
    trainer = trainers.ClassificationTrainer(lambda: tiny_model(), config)
    trainer.train(batches)
    losses = [logs["loss"] for logs in trainer.history]
    assert all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], losses
    assert 0.0 <= trainer.history[-1]["accuracy"] <= 1.0


def test_color_jitter_scales_brightness_within_its_range_and_keeps_range():
    image = tf.constant(np.random.default_rng(3).uniform(0.2, 0.6, (8, 8, 3)), tf.float32)
    ratios = []
    for step in range(20):
        seed = tf.constant([step, 2], tf.int64)
        bright = augment.color_jitter(image, seed, brightness=0.4, contrast=0, saturation=0)
        ratio = bright.numpy() / image.numpy()
        assert np.allclose(ratio, ratio.flat[0], atol=1e-5)  # one factor for every pixel
        ratios.append(ratio.flat[0])
        full = augment.color_jitter(image, seed, 0.4, 0.4, 0.4, hue=0.1).numpy()
        assert full.shape == (8, 8, 3) and full.min() >= 0 and full.max() <= 1
    assert 0.6 - 1e-5 <= min(ratios) < 0.9 and 1.1 < max(ratios) <= 1.4 + 1e-5
    np.testing.assert_array_equal(augment.color_jitter(image, SEED, 0, 0, 0), image)
