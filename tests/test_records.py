"""Training and evaluation input from TFRecord shards: per-worker sharding, exact resume, bad
records and labels; and the trainer skipping (and counting) the placeholders of bad images."""
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from PIL import Image

import trainers
from tfcls import data
from tfcls.data import tfrecord

MEAN, STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
NUM_IMAGES, NUM_CLASSES = 36, 3


def _images(root, count=NUM_IMAGES):
    """Constant PNGs: image j has red channel 5 * j (its identity) and label j mod 3."""
    files, labels = [], []
    root.mkdir(parents=True, exist_ok=True)
    for j in range(count):
        path = root / f"{j}.png"
        Image.fromarray(np.full((10, 14, 3), [5 * j, 9, 200], np.uint8)).save(path)
        files.append(str(path))
        labels.append(j % NUM_CLASSES)
    return files, labels


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    files, labels = _images(root / "images")
    tfrecord.write_shards(files, labels, str(root / "out"), "train", 4, label_offset=1,
                          shuffle_seed=0)
    tfrecord.write_shards(files[:10], labels[:10], str(root / "out"), "validation", 2,
                          label_offset=1)
    return str(root / "out")


def _input_fn(source, batch=6, **kwargs):
    args = dict(image_size=4, global_batch_size=batch, mean=MEAN, std=STD, seed=3,
                scale=(0.5, 1.0), threads=2, num_classes=NUM_CLASSES, shuffle_buffer=8)
    return data.build_records_input_fn(source, **{**args, **kwargs})


def _ids(images):
    return np.rint(images[:, 0, 0, 0] * 255 / 5).astype(int)


def _take(dataset, count):
    out = [(_ids(x.numpy()), y.numpy()) for x, y in dataset.take(count)]
    return np.concatenate([i for i, _ in out]), np.concatenate([y for _, y in out])


def _context(pipeline_id, num_pipelines=2):
    return tf.distribute.InputContext(num_input_pipelines=num_pipelines,
                                      input_pipeline_id=pipeline_id,
                                      num_replicas_in_sync=num_pipelines)


def test_counts_come_from_shards_json_or_are_counted(shards, tmp_path):
    source = data.TFRecordSource(shards, label_offset=1)
    assert source.counts == [9, 9, 9, 9] and source.num_examples == NUM_IMAGES
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in source.paths:  # no shards.json: counted
        tf.io.gfile.copy(path, str(copy / path.rsplit("/", 1)[-1]))
    assert data.TFRecordSource(str(copy)).counts == [9, 9, 9, 9]
    (copy / "train-00003-of-00004").unlink()
    with pytest.raises(FileNotFoundError, match=r"has 3 of the 4 train shards; missing "
                                                r"\['train-00003-of-00004'\]"):
        data.TFRecordSource(str(copy))


def test_an_epoch_covers_the_data_once_and_labels_match(shards):
    ids, labels = _take(_input_fn(data.TFRecordSource(shards, label_offset=1))(0), 6)
    assert sorted(ids) == list(range(NUM_IMAGES))
    np.testing.assert_array_equal(labels, ids % NUM_CLASSES)


def test_same_seed_same_batches_and_resume_continues_exactly(shards):
    input_fn = _input_fn(data.TFRecordSource(shards, label_offset=1))
    ids, labels = _take(input_fn(0), 14)  # 84 elements: into the third epoch
    again, _ = _take(input_fn(0), 14)
    np.testing.assert_array_equal(ids, again)
    assert not np.array_equal(ids[:36], ids[36:72])  # each epoch its own order
    for start in (4, 7):  # mid-epoch, and the second epoch's start (42 = 36 + 6)
        resumed, resumed_labels = _take(input_fn(start), 14 - start)
        np.testing.assert_array_equal(resumed, ids[6 * start:])
        np.testing.assert_array_equal(resumed_labels, labels[6 * start:])
    other, _ = _take(_input_fn(data.TFRecordSource(shards, label_offset=1), seed=4)(0), 6)
    assert not np.array_equal(other, ids[:36])


@pytest.mark.parametrize("shard_count", [4, 1])
def test_two_workers_read_disjoint_parts_that_cover_the_data(shards, tmp_path, shard_count):
    if shard_count == 1:  # fewer shards than workers: sharded by records
        files, labels = _images(tmp_path / "images")
        tfrecord.write_shards(files, labels, str(tmp_path / "one"), "train", 1, label_offset=1)
        shards = str(tmp_path / "one")
    source = data.TFRecordSource(shards, label_offset=1)
    input_fn = _input_fn(source)
    parts = [_take(input_fn(0, _context(p)), 6)[0] for p in range(2)]  # 18 each = one epoch
    assert not set(parts[0]) & set(parts[1])
    assert sorted(np.concatenate(parts)) == list(range(NUM_IMAGES))
    resumed = _take(input_fn(2, _context(1)), 4)[0]
    np.testing.assert_array_equal(resumed, parts[1][6:])


def _corrupt(path, record_index):
    """Flips a byte in the payload of record ``record_index`` of a shard (its CRC then fails)."""
    raw = bytearray(open(path, "rb").read())
    offset = 0
    for _ in range(record_index):
        length = int.from_bytes(raw[offset:offset + 8], "little")
        offset += 8 + 4 + length + 4
    raw[offset + 12 + 5] ^= 0xFF
    open(path, "wb").write(bytes(raw))


def test_corrupt_records_are_skipped_counted_and_shift_nothing(tmp_path, capfd):
    files, labels = _images(tmp_path / "images")
    broken_jpeg = tmp_path / "images" / "broken.jpg"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(broken_jpeg)
    broken_jpeg.write_bytes(broken_jpeg.read_bytes()[:150])  # truncated: will not decode
    files, labels = files + [str(broken_jpeg)], labels + [0]
    out = str(tmp_path / "out")
    paths = tfrecord.write_shards(files, labels, out, "train", 3, shuffle_seed=1)
    position = int(np.flatnonzero(np.random.default_rng(1).permutation(37) == 36)[0])
    bad_shard = (position % 3 + 1) % 3  # a shard without the bad JPEG
    _corrupt(paths[bad_shard], 7)  # its records from the 8th on can no longer be read
    source = data.TFRecordSource(out)
    assert source.counts == [13, 12, 12]  # from shards.json: what was written
    lost = source.counts[bad_shard] - 7
    input_fn = _input_fn(source, batch=37)
    ids, labels_seen = _take(input_fn(0), 3)
    for epoch in range(3):  # every epoch keeps its 37 places
        epoch_labels = labels_seen[37 * epoch:37 * (epoch + 1)]
        assert (epoch_labels == -1).sum() == 1 + lost  # the bad JPEG, the unreadable records
        valid = epoch_labels >= 0
        assert len(set(ids[37 * epoch:37 * (epoch + 1)][valid])) == 36 - lost
    warnings = capfd.readouterr().err  # each names where it is, plain (no quotes)
    assert (f"warning: TFRecord shard {paths[bad_shard]} ends after 7 of its "
            f"{source.counts[bad_shard]} records (truncated or corrupt)") in warnings
    assert any(f"warning: could not decode a record of {path};" in warnings
               for path in paths if path != paths[bad_shard])
    resumed, resumed_labels = _take(input_fn(1), 2)
    np.testing.assert_array_equal(resumed_labels, labels_seen[37:])
    np.testing.assert_array_equal(resumed[resumed_labels >= 0], ids[37:][labels_seen[37:] >= 0])


def test_label_outside_the_classes_is_an_error_naming_the_shard(shards):
    source = data.TFRecordSource(shards, label_offset=0)  # stored 1..3: class 3 is out of range
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"Label 3 is outside \[0, 3\) in /\S*train-0000\d-of-00004: ") as bad:
        _take(_input_fn(source)(0), 6)
    assert "\\" not in bad.value.message.split("assertion failed:")[1]  # no escaped quotes
    evaluation = data.build_records_eval_dataset(
        data.TFRecordSource(shards, "validation"), image_size=4, batch_size=5, mean=MEAN,
        std=STD, num_classes=NUM_CLASSES)
    with pytest.raises(tf.errors.InvalidArgumentError, match="validation-0000"):
        list(evaluation)


def test_missing_or_empty_sources_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No TFRecord shards train"):
        data.TFRecordSource(str(tmp_path / "nowhere"))
    for i in range(2):
        with tf.io.TFRecordWriter(str(tmp_path / f"train-0000{i}-of-00002")):
            pass
    with pytest.raises(ValueError, match="hold no readable records"):
        data.TFRecordSource(str(tmp_path))


def test_evaluation_reads_every_record_in_order_once(shards):
    source = data.TFRecordSource(shards, "validation", label_offset=1)
    dataset = data.build_records_eval_dataset(source, image_size=4, batch_size=4, mean=MEAN,
                                              std=STD, num_classes=NUM_CLASSES, crop_pct=1.0)
    ids, labels = _take(dataset, 10)
    assert list(ids) == [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]  # shard 0, then shard 1
    np.testing.assert_array_equal(labels, ids % NUM_CLASSES)
    halves = [_take(data.build_records_eval_dataset(
        source, image_size=4, batch_size=4, mean=MEAN, std=STD, num_classes=NUM_CLASSES,
        input_context=_context(p)), 10)[0] for p in range(2)]
    assert sorted(np.concatenate(halves)) == list(range(10)) and not set(halves[0]) & set(halves[1])


def _linear_model():
    model = tf_keras.Sequential([tf_keras.layers.Flatten(), tf_keras.layers.Dense(3)])
    model.build((None, 2, 2, 3))
    return model


def test_trainer_skips_and_counts_placeholder_labels():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(4, 2, 2, 3)).astype(np.float32)
    garbage = images.copy()
    garbage[2:] = 100.0  # what sits in the placeholders must not matter
    labels = np.array([0, 2, -1, -1], np.int32)

    def trained(batch_images, batch_labels):
        tf_keras.utils.set_random_seed(0)
        trainer = trainers.ClassificationTrainer(_linear_model, trainers.TrainConfig.from_flat(
            total_steps=1, global_batch_size=4, optimizer="sgd", learning_rate=0.5,
            schedule="constant", weight_decay=0.0, label_smoothing=0.1, momentum=0.0,
            jit_compile=False, steps_per_loop=1))
        logs = trainer.train(tf.data.Dataset.from_tensors((batch_images, batch_labels)))
        return [v.numpy() for v in trainer.model.trainable_variables], logs

    weights, logs = trained(images, labels)
    garbage_weights, _ = trained(garbage, labels)
    for a, b in zip(weights, garbage_weights):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert logs["skipped_examples"] == 2 and np.isfinite(logs["loss"])
    tf_keras.utils.set_random_seed(0)
    start = [v.numpy() for v in _linear_model().trainable_variables]
    logits = images[:2].reshape(2, -1) @ start[0] + start[1]
    targets = np.eye(3)[labels[:2]] * 0.9 + 0.1 / 3
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    grad_logits = (probs - targets) / 4  # the sum over the 2 labelled images / global batch 4
    expected_kernel = start[0] - 0.5 * images[:2].reshape(2, -1).T @ grad_logits
    np.testing.assert_allclose(weights[0], expected_kernel, atol=1e-5)


def test_shards_json_lists_what_write_shards_wrote(shards):
    with open(f"{shards}/shards.json") as f:
        counts = json.load(f)
    assert counts == {**{f"train-0000{i}-of-00004": 9 for i in range(4)},
                      **{f"validation-0000{i}-of-00002": 5 for i in range(2)}}
