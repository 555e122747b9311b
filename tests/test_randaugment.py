"""RandAugment's ops (tfcls.data.randaugment) on crafted images: what each does, magnitude 0 as
the identity, shape / dtype / range kept, a function of the seed, and in the training pipeline."""
import numpy as np
import pytest
import tensorflow as tf

from tfcls import data
from tfcls.data import randaugment as ra

RNG = np.random.default_rng(0)
IMAGE = RNG.uniform(0, 1, (9, 9, 3)).astype(np.float32)
SEED = tf.constant([5, 6], tf.int64)


@pytest.mark.parametrize("name", [name for name, _, _ in ra.OPS])
def test_each_op_keeps_shape_dtype_and_range(name):
    for magnitude in (0.0, 5.0, 10.0):
        for positive in (True, False):
            out = ra.apply_op(tf.constant(IMAGE), name, magnitude, positive).numpy()
            assert out.shape == IMAGE.shape and out.dtype == np.float32
            assert out.min() >= 0.0 and out.max() <= 1.0
    if name not in ("auto_contrast", "equalize"):  # the two ops without a magnitude
        identity = ra.apply_op(tf.constant(IMAGE), name, 0.0).numpy()
        np.testing.assert_allclose(identity, IMAGE, atol=0.5 / 255 + 1e-6)  # posterize: 8 bits
        if name != "identity":
            assert np.abs(ra.apply_op(tf.constant(IMAGE), name, 10.0).numpy() - IMAGE).mean() > 0.01


def test_geometric_ops_move_pixels_as_stated():
    image = tf.constant(IMAGE)
    np.testing.assert_allclose(ra.rotate(image, tf.constant(90.0)), np.rot90(IMAGE, 1), atol=1e-5)
    shifted = ra.translate_x(image, tf.constant(2 / 9)).numpy()  # 2 px: x_out samples x_in + 2
    np.testing.assert_allclose(shifted[:, :-2], IMAGE[:, 2:], atol=1e-5)
    np.testing.assert_allclose(shifted[:, -2:], 0.5)  # grey fill
    down = ra.translate_y(image, tf.constant(-3 / 9)).numpy()
    np.testing.assert_allclose(down[3:], IMAGE[:-3], atol=1e-5)
    sheared = ra.shear_x(image, tf.constant(1.0)).numpy()  # row y moves by y pixels
    np.testing.assert_allclose(sheared[2, :-2], IMAGE[2, 2:], atol=1e-5)


def test_colour_ops_match_their_formulas():
    image = tf.constant(IMAGE)
    np.testing.assert_allclose(ra.solarize(image, 0.5), np.where(IMAGE < 0.5, IMAGE, 1 - IMAGE))
    np.testing.assert_allclose(ra.brightness(image, 0.5), IMAGE * 0.5, atol=1e-6)
    grey = IMAGE @ np.array([0.2989, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(ra.color(image, 0.0), np.repeat(grey[..., None], 3, -1), atol=1e-3)
    np.testing.assert_allclose(ra.contrast(image, 0.0), np.full_like(IMAGE, grey.mean()),
                               atol=1e-3)
    pixels = np.round(IMAGE * 255).astype(np.uint8)
    np.testing.assert_allclose(ra.posterize(image, 4), (pixels & 0xF0) / 255.0, atol=1e-6)
    dim = tf.constant(0.2 + 0.5 * IMAGE)  # spans [0.2, 0.7]: autocontrast restores [0, 1]
    stretched = ra.auto_contrast(dim, None).numpy()
    assert np.allclose(stretched.min(axis=(0, 1)), 0) and np.allclose(stretched.max(axis=(0, 1)), 1)
    np.testing.assert_allclose(ra.sharpness(image, 1.0), IMAGE, atol=1e-6)


def test_equalize_flattens_a_skewed_histogram():
    skewed = (RNG.uniform(0, 1, (32, 32, 3)) ** 4).astype(np.float32)  # mostly dark
    out = ra.equalize(tf.constant(skewed), None).numpy()
    assert out.shape == skewed.shape
    assert abs(np.median(out) - 0.5) < 0.1 < abs(np.median(skewed) - 0.5)
    for c in range(3):  # a monotone remapping: the order of the pixels is kept
        order = np.argsort(skewed[..., c].ravel(), kind="stable")
        assert np.all(np.diff(out[..., c].ravel()[order]) >= 0)


def test_rand_augment_is_a_function_of_its_seed_and_traces():
    image = tf.constant(IMAGE)
    first = ra.rand_augment(image, SEED, num_ops=2, magnitude=9.0, magnitude_std=0.5)
    np.testing.assert_array_equal(first, ra.rand_augment(image, SEED, 2, 9.0, 0.5))
    outs = [ra.rand_augment(image, tf.constant([s, 0], tf.int64), 2, 9.0).numpy()
            for s in range(6)]
    assert len({o.tobytes() for o in outs}) > 3
    traced = tf.function(lambda x, s: ra.rand_augment(x, s, 2, 9.0))(image, SEED)
    np.testing.assert_allclose(traced, ra.rand_augment(image, SEED, 2, 9.0), atol=1e-6)
    assert ra.rand_augment(image, SEED, num_ops=0) is image
    with pytest.raises(ValueError, match="magnitude in \\[0, 10\\]"):
        ra.rand_augment(image, SEED, 2, 12.0)


def test_rand_augment_at_magnitude_zero_is_close_to_identity():
    """Only autocontrast and equalize change an image at M = 0; on a full-range image autocontrast
    does nothing, and on average over seeds the change stays small."""
    full_range = np.concatenate([IMAGE.reshape(-1, 3), [[0, 0, 0], [1, 1, 1]]])[:81]
    full_range = full_range.reshape(9, 9, 3).astype(np.float32)
    changes = [np.abs(ra.rand_augment(tf.constant(full_range), tf.constant([s, 1], tf.int64), 2,
                                      0.0).numpy() - full_range).mean() for s in range(12)]
    assert np.mean(changes) < 0.02, changes


def test_pipeline_applies_rand_augment_and_resumes(tmp_path):
    from PIL import Image
    files = []
    for i in range(6):
        path = tmp_path / f"c{i % 2}" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(RNG.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(path)
        files.append(str(path))
    labels = [i % 2 for i in range(6)]
    args = dict(image_size=8, global_batch_size=3, mean=(0.5,) * 3, std=(0.25,) * 3, seed=2,
                threads=1)
    plain = data.build_train_input_fn(files, labels, **args)
    augmented = data.build_train_input_fn(files, labels, rand_augment=(2, 9.0, 0.5),
                                          color_jitter=0.4, **args)
    base = [x.numpy() for x, _ in plain(0).take(4)]
    full = [x.numpy() for x, _ in augmented(0).take(4)]
    assert all(x.shape == (3, 8, 8, 3) for x in full)
    assert not np.allclose(base[0], full[0])
    assert all(x.min() >= (0 - 0.5) / 0.25 - 1e-4 and x.max() <= (1 - 0.5) / 0.25 + 1e-4
               for x in full)
    for x, x_ref in zip((x.numpy() for x, _ in augmented(start_step=2).take(2)), full[2:]):
        np.testing.assert_array_equal(x, x_ref)
