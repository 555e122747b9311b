"""Tests of tfcls.data: image-folder scanning and the tf.data pipelines (the shapes data set:
test_shapes.py)."""
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfcls import data
from tfcls.data import transforms

MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def _save(path, array, fmt=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path, format=fmt)
    return str(path)


def _constant_images(root, num_per_class, num_classes=2, size=12):
    """Class folders of constant-colour PNGs; the red channel of file j is 10 * j (an identity)."""
    files, labels = [], []
    for label in range(num_classes):
        for i in range(num_per_class):
            j = len(files)
            pixel = np.array([10 * j, 100 + label, 50], np.uint8)
            image = np.tile(pixel, (size, size, 1))
            files.append(_save(root / f"class{label}" / f"img{i}.png", image))
            labels.append(label)
    return files, labels


def _denormalize_red(images):
    """Red channel back to 0-255 pixels (rounded), one value per constant image."""
    red = images[..., 0] * STD[0] + MEAN[0]
    return np.rint(red * 255).astype(int)


def _batches(dataset, count):
    return [(x.numpy(), y.numpy()) for x, y in dataset.take(count)]


# --- image folders ------------------------------------------------------------------------------

def test_scan_finds_sorted_classes_recursively(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    _save(tmp_path / "zebra" / "a.png", img)
    _save(tmp_path / "apple" / "sub" / "b.jpg", img)
    _save(tmp_path / "apple" / "c.BMP", img, fmt="BMP")
    _save(tmp_path / "mango" / "d.gif", img, fmt="GIF")
    (tmp_path / ".hidden").mkdir()
    files, labels, classes, skipped = data.scan_image_folder(str(tmp_path))
    assert classes == ["apple", "mango", "zebra"]
    rel = [os.path.relpath(f, tmp_path) for f in files]
    assert rel == ["apple/c.BMP", "apple/sub/b.jpg", "mango/d.gif", "zebra/a.png"]
    assert labels == [0, 0, 1, 2] and skipped == []


def test_load_image_folder_split_by_folder(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    for name in ("cat", "dog"):
        for i in range(3):
            _save(tmp_path / "train" / name / f"{i}.png", img)
    _save(tmp_path / "val" / "dog" / "v.png", img)  # val may lack a class
    train, train_labels, val, val_labels, classes, skipped = data.load_image_folder(str(tmp_path))
    assert classes == ["cat", "dog"] and skipped == 0
    assert train_labels == [0, 0, 0, 1, 1, 1] and len(train) == 6
    assert val_labels == [1] and val[0].endswith(os.path.join("val", "dog", "v.png"))
    _save(tmp_path / "val" / "bird" / "b.png", img)
    with pytest.raises(ValueError, match="bird"):
        data.load_image_folder(str(tmp_path))


def test_split_by_fraction_is_stratified_and_deterministic():
    files = [f"f{i}" for i in range(30)]
    labels = [0] * 20 + [1] * 10
    first = data.split_by_fraction(files, labels, 0.2, seed=1)
    assert first == data.split_by_fraction(files, labels, 0.2, seed=1)
    train, train_labels, val, val_labels = first
    assert sorted(train + val) == sorted(files) and not set(train) & set(val)
    assert val_labels.count(0) == 4 and val_labels.count(1) == 2
    assert all(labels[files.index(f)] == y for f, y in zip(val, val_labels))
    assert data.split_by_fraction(files, labels, 0.2, seed=2)[2] != val
    assert data.split_by_fraction(files, labels, 0.0)[2] == []
    with pytest.raises(ValueError, match="val_split"):
        data.split_by_fraction(files, labels, 1.0)


def test_load_image_folder_split_by_fraction(tmp_path):
    _constant_images(tmp_path, num_per_class=5)
    out = data.load_image_folder(str(tmp_path), val_split=0.4, seed=0)
    assert out == data.load_image_folder(str(tmp_path), val_split=0.4, seed=0)
    train, train_labels, val, val_labels, classes, skipped = out
    assert classes == ["class0", "class1"] and skipped == 0
    assert sorted(val_labels) == [0, 0, 1, 1] and len(train) == 6


def test_corrupt_files_are_skipped_and_counted(tmp_path):
    good, _ = _constant_images(tmp_path, num_per_class=2)
    (tmp_path / "class0" / "garbage.jpg").write_bytes(b"this is not a jpeg" * 10)
    png = open(good[0], "rb").read()
    (tmp_path / "class0" / "truncated.png").write_bytes(png[: len(png) // 2])
    (tmp_path / "class1" / "readme.txt").write_text("hello")
    with pytest.warns(UserWarning, match="Skipped 3"):
        train, labels, _, _, _, skipped = data.load_image_folder(str(tmp_path))
    assert skipped == 3 and sorted(train) == sorted(good)


def test_a_class_folder_of_only_unreadable_files_is_refused_by_name(tmp_path):
    _constant_images(tmp_path, num_per_class=2)
    (tmp_path / "class2").mkdir()
    (tmp_path / "class2" / "garbage.jpg").write_bytes(b"this is not a jpeg" * 10)
    (tmp_path / "class2" / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=rf"Class folder {tmp_path / 'class2'} has no readable "
                                         r"training image \(2 non-image or corrupt"):
        data.load_image_folder(str(tmp_path), val_split=0.5)


def test_undecodable_file_keeps_its_place_as_a_placeholder_and_resume_stays_exact(tmp_path,
                                                                                    capfd):
    files, labels = _constant_images(tmp_path, num_per_class=2)
    jpeg = tmp_path / "class0" / "broken.jpg"
    _save(jpeg, np.random.default_rng(0).integers(0, 255, (32, 32, 3)))
    payload = jpeg.read_bytes()
    jpeg.write_bytes(payload[:200])  # valid header, truncated data: passes the scan
    assert data.is_image_file(str(jpeg))
    files, labels = files[:2] + [str(jpeg)] + files[2:], labels[:2] + [0] + labels[2:]
    dataset = data.build_eval_dataset(files, labels, image_size=12, batch_size=8, mean=MEAN,
                                      std=STD, crop_pct=1.0)
    (images, got_labels), = _batches(dataset, 2)
    assert list(got_labels) == [0, 0, -1, 1, 1]  # in place, class id -1
    assert list(_denormalize_red(images)[[0, 1, 3, 4], 0, 0]) == [0, 10, 20, 30]
    assert not images[2].any()
    assert f"warning: could not decode {jpeg}; skipped" in capfd.readouterr().err
    train_fn = _train_fn(files, labels)
    train = _batches(train_fn(0), 6)
    got = np.concatenate([y for _, y in train])
    for epoch in range(4):  # 24 elements: the broken file once in each full epoch of 5
        assert (got[5 * epoch:5 * epoch + 5] == -1).sum() == 1
    resumed = _batches(train_fn(3), 3)
    for (x, y), (rx, ry) in zip(train[3:], resumed):
        np.testing.assert_array_equal(y, ry)
        np.testing.assert_array_equal(x, rx)


def test_gif_and_bmp_decode(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 255, (6, 5, 3)).astype(np.uint8)
    bmp = _save(tmp_path / "a.bmp", pixels, fmt="BMP")
    np.testing.assert_array_equal(transforms.decode_image(tf.io.read_file(bmp)).numpy(), pixels)
    gray = np.full((6, 5), 77, np.uint8)
    gif = _save(tmp_path / "b.gif", gray, fmt="GIF")
    np.testing.assert_array_equal(transforms.decode_image(tf.io.read_file(gif)).numpy(),
                                  np.full((6, 5, 3), 77))


def _bad_dir(tmp_path, kind):
    path = tmp_path / kind
    if kind == "file":
        path.write_text("x")
    elif kind == "empty":
        path.mkdir()
    elif kind == "flat":  # images but no class folders
        _save(path / "a.png", np.zeros((4, 4, 3)))
    elif kind == "no_images":
        (path / "cat").mkdir(parents=True)
        (path / "cat" / "notes.txt").write_text("x")
    return path


@pytest.mark.parametrize("kind, match", [
    ("missing", "does not exist"), ("file", "not a data directory"), ("empty", "No class folders"),
    ("flat", "No class folders"), ("no_images", "No readable images"),
])
def test_clear_errors_for_bad_directories(tmp_path, kind, match):
    path = _bad_dir(tmp_path, kind)
    with pytest.raises((FileNotFoundError, NotADirectoryError, ValueError), match=match) as err:
        data.load_image_folder(str(path))
    assert str(path) in str(err.value)


# --- pipelines ----------------------------------------------------------------------------------

def _train_fn(files, labels, **kwargs):
    args = dict(image_size=8, global_batch_size=4, mean=MEAN, std=STD, seed=7, scale=(0.3, 1.0),
                threads=1)
    return data.build_train_input_fn(files, labels, **{**args, **kwargs})


def test_train_input_fn_resumes_exactly(tmp_path):
    rng = np.random.default_rng(0)
    files = [_save(tmp_path / f"c{i % 2}" / f"{i}.png", rng.integers(0, 255, (16, 20, 3)))
             for i in range(6)]
    files += [_save(tmp_path / "c0" / "j.jpg", rng.integers(0, 255, (14, 18, 3)))]
    labels = [i % 2 for i in range(6)] + [0]
    input_fn = _train_fn(files, labels)
    full = _batches(input_fn(0), 7)  # 28 elements: four epochs of 7 files
    assert all(x.shape == (4, 8, 8, 3) and x.dtype == np.float32 for x, _ in full)
    for start in (1, 3, 5):
        resumed = _batches(input_fn(start_step=start), 7 - start)
        for (x, y), (x_ref, y_ref) in zip(resumed, full[start:]):
            np.testing.assert_array_equal(x, x_ref)
            np.testing.assert_array_equal(y, y_ref)
    other_seed = _batches(_train_fn(files, labels, seed=8)(0), 1)
    assert not np.array_equal(other_seed[0][0], full[0][0])


def test_train_epochs_are_permutations(tmp_path):
    files, labels = _constant_images(tmp_path, num_per_class=4)  # 8 files, identity in red
    batches = _batches(_train_fn(files, labels)(0), 6)  # three epochs of two batches
    ids = np.concatenate([_denormalize_red(x)[:, 0, 0] // 10 for x, _ in batches])
    got_labels = np.concatenate([y for _, y in batches])
    epochs = ids.reshape(3, 8)
    for epoch in epochs:
        assert sorted(epoch) == list(range(8))
    assert len({tuple(e) for e in epochs}) == 3  # shuffled differently each epoch
    np.testing.assert_array_equal(got_labels, np.asarray(labels)[ids])


def test_one_files_crops_differ_across_epochs_and_repeat_with_the_seed(tmp_path):
    """Augmentation is seeded per element of the stream, not per file: a file gets a new crop
    and flip every epoch, and the same seed gives the same ones again."""
    files = []
    for j in range(4):  # identity in red (constant), gradients in green and blue (crops show)
        ramp = np.arange(24) * 10
        image = np.stack([np.full((24, 24), 10 * j), np.tile(ramp, (24, 1)),
                          np.tile(ramp[:, None], (1, 24))], -1)
        files.append(_save(tmp_path / f"c{j % 2}" / f"{j}.png", image))
    labels = [j % 2 for j in range(4)]

    def crops_by_file(input_fn):
        out = {j: [] for j in range(4)}
        for x, _ in _batches(input_fn(0), 3):  # three epochs of one batch
            for image in x:
                out[int(_denormalize_red(image)[0, 0]) // 10].append(image)
        return out

    first = crops_by_file(_train_fn(files, labels, global_batch_size=4, scale=(0.2, 0.6)))
    again = crops_by_file(_train_fn(files, labels, global_batch_size=4, scale=(0.2, 0.6)))
    for j in range(4):
        assert len(first[j]) == 3
        assert not np.allclose(first[j][0], first[j][1]) or not np.allclose(first[j][1],
                                                                             first[j][2])
        assert not any(np.allclose(a, b) for a, b in
                       [(first[j][0], first[j][1]), (first[j][0], first[j][2]),
                        (first[j][1], first[j][2])]), f"file {j} got a repeated crop"
        for a, b in zip(first[j], again[j]):
            np.testing.assert_array_equal(a, b)


def test_train_input_pipelines_split_each_global_batch(tmp_path):
    files, labels = _constant_images(tmp_path, num_per_class=5)
    input_fn = _train_fn(files, labels)
    single = _batches(input_fn(0), 5)
    contexts = [tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i,
                                           num_replicas_in_sync=2) for i in range(2)]
    for start in (0, 2):
        shards = [_batches(input_fn(start, input_context=c), 5 - start) for c in contexts]
        for step, ((x0, y0), (x1, y1)) in enumerate(zip(*shards), start=start):
            assert x0.shape == (2, 8, 8, 3)
            x_ref, y_ref = single[step]
            # Pipeline p holds the p-th half of every global batch (what replica p of one
            # process with two replicas gets): concatenated, they give the global batch.
            np.testing.assert_array_equal(np.concatenate([x0, x1]), x_ref)
            np.testing.assert_array_equal(np.concatenate([y0, y1]), y_ref)


def test_train_augmentation_without_randomness_matches_numpy(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 255, (8, 8, 3)).astype(np.uint8)
    path = _save(tmp_path / "c" / "a.png", pixels)
    expected = (pixels / 255.0 - MEAN) / STD
    fixed = dict(scale=(1.0, 1.0), ratio=(1.0, 1.0), global_batch_size=1)
    (x, _), = _batches(_train_fn([path], [0], hflip=0.0, **fixed)(0), 1)
    np.testing.assert_allclose(x[0], expected, atol=1e-5)
    (x, _), = _batches(_train_fn([path], [0], hflip=1.0, **fixed)(0), 1)
    np.testing.assert_allclose(x[0], expected[:, ::-1], atol=1e-5)
    (x, _), = _batches(_train_fn([path], [0], hflip=0.0, channel_order="BGR", **fixed)(0), 1)
    np.testing.assert_allclose(x[0], (pixels[..., ::-1] / 255.0 - MEAN) / STD, atol=1e-5)


def test_jpeg_crop_path_matches_full_decode(tmp_path):
    pixels = np.random.default_rng(2).integers(0, 255, (40, 30, 3)).astype(np.uint8)
    encoded = tf.io.read_file(_save(tmp_path / "a.jpg", pixels))
    full = tf.io.decode_jpeg(encoded, channels=3)
    for seed in range(5):
        seed = tf.constant([seed, 0], tf.int64)
        cropped = transforms.decode_random_crop(encoded, seed).numpy()
        offset, size = transforms.random_crop_window(tf.shape(full), seed)
        top, left, height, width = [int(v) for v in (*offset, *size)]
        reference = full[top:top + height, left:left + width].numpy().astype(int)
        assert cropped.shape == reference.shape
        # Same pixels inside; chroma upsampling at the crop's edge may differ a little.
        np.testing.assert_array_equal(cropped[1:-1, 1:-1], reference[1:-1, 1:-1])
        assert np.abs(cropped - reference).mean() < 2.0
        assert 0.08 * 1200 * 0.9 <= height * width <= 1200


def test_eval_center_crop_and_normalization_match_numpy(tmp_path):
    rng = np.random.default_rng(3)
    # Shorter side 16 = floor(14 / 0.875): no resize, just a centre crop of 14.
    tall = rng.integers(0, 255, (20, 16, 3)).astype(np.uint8)
    wide = rng.integers(0, 255, (16, 23, 3)).astype(np.uint8)
    files = [_save(tmp_path / "c" / "tall.png", tall), _save(tmp_path / "c" / "wide.png", wide)]
    dataset = data.build_eval_dataset(files, [0, 1], image_size=14, batch_size=2, mean=MEAN,
                                      std=STD, crop_pct=0.875)
    (x, y), = _batches(dataset, 2)
    expected = [tall[3:17, 1:15], wide[1:15, 4:18]]  # offsets round((20-14)/2), round((23-14)/2)
    for got, want in zip(x, expected):
        np.testing.assert_allclose(got, (want / 255.0 - MEAN) / STD, atol=1e-5)
    assert list(y) == [0, 1]


def test_eval_resizes_any_size_and_keeps_last_partial_batch(tmp_path):
    colours = [(200, 10, 90), (0, 255, 30), (5, 6, 7)]
    sizes = [(50, 30), (9, 61), (33, 33)]
    files = [_save(tmp_path / "c" / f"{i}.png", np.tile(np.array(c, np.uint8), (*s, 1)))
             for i, (c, s) in enumerate(zip(colours, sizes))]
    dataset = data.build_eval_dataset(files, [0, 1, 2], image_size=16, batch_size=2, mean=MEAN,
                                      std=STD)
    batches = _batches(dataset, 3)
    assert [len(y) for _, y in batches] == [2, 1]
    images = np.concatenate([x for x, _ in batches])
    assert images.shape == (3, 16, 16, 3)
    for image, colour in zip(images, colours):  # resizing a constant image keeps it constant
        np.testing.assert_allclose(image, np.broadcast_to((np.array(colour) / 255.0 - MEAN) / STD,
                                                          image.shape), atol=1e-4)


def test_eval_shards_files_by_input_pipeline(tmp_path):
    files, labels = _constant_images(tmp_path, num_per_class=3)
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1,
                                         num_replicas_in_sync=2)
    dataset = data.build_eval_dataset(files, labels, image_size=12, batch_size=4, mean=MEAN,
                                      std=STD, crop_pct=1.0, input_context=context)
    ids = [_denormalize_red(x)[:, 0, 0] // 10 for x, _ in _batches(dataset, 5)]
    assert [list(i) for i in ids] == [[1, 3], [5]]


@pytest.mark.parametrize("kwargs, match", [
    (dict(channel_order="rgb"), "channel_order"),
    (dict(threads=0), "threads"),
    (dict(mean=(0.5, 0.5)), "mean and std"),
    (dict(global_batch_size=0), "positive"),
])
def test_pipeline_argument_errors(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _train_fn(["a.png"], [0], **kwargs)(0)


def test_pipeline_needs_matching_files_and_labels():
    with pytest.raises(ValueError, match="labels"):
        data.build_eval_dataset(["a.png", "b.png"], [0], image_size=8, batch_size=2, mean=MEAN,
                                std=STD)
    with pytest.raises(ValueError, match="No image files"):
        _train_fn([], [])
    context = tf.distribute.InputContext(num_input_pipelines=1, num_replicas_in_sync=3)
    with pytest.raises(ValueError, match="divisible"):
        _train_fn(["a.png"], [0])(0, input_context=context)


def test_evaluation_crops_the_central_87_5_percent_by_default(tmp_path):
    """timm's and the Inception papers' crop_pct 0.875 (224 of 256) is the default of every
    evaluation path: both pipelines called without crop_pct equal crop_pct=0.875 (and differ
    from 0.9), and a model's config and the command line's evaluation carry 0.875."""
    import tfcls
    from launch.data import eval_args
    from tfcls.data import tfrecord

    assert transforms.eval_resize_size(224, 0.875) == 256
    rng = np.random.default_rng(0)
    path = tmp_path / "gradient.png"
    _save(path, rng.integers(0, 255, (20, 30, 3)))
    shards = tfrecord.write_shards([str(path)], [0], str(tmp_path / "shards"), "validation", 1)
    assert shards
    source = data.TFRecordSource(str(tmp_path / "shards"), "validation")
    common = dict(image_size=14, batch_size=1, mean=MEAN, std=STD)
    outputs = {}
    for crop in (None, 0.875, 0.9):
        extra = {} if crop is None else {"crop_pct": crop}
        files = data.build_eval_dataset([str(path)], [0], **common, **extra)
        records = data.build_records_eval_dataset(source, num_classes=1, **common, **extra)
        outputs[crop] = [next(iter(d))[0].numpy() for d in (files, records)]
    for default, explicit, other in zip(outputs[None], outputs[0.875], outputs[0.9]):
        np.testing.assert_array_equal(default, explicit)
        assert np.abs(default - other).max() > 0.1
    model = tfcls.create_model("resnet18", num_classes=2)
    assert model.pretrained_cfg["crop_pct"] == 0.875
    del model.pretrained_cfg["crop_pct"]
    assert eval_args(model, 14, 1, None)["crop_pct"] == 0.875
