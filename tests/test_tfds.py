"""TFDS data sets as a training source, on TFDS's own mock data (``tfds.testing.mock_data``:
random examples of the data set's real features, nothing downloaded)."""
import numpy as np
import pytest
import tensorflow as tf

from tfcls import data

tfds = pytest.importorskip("tensorflow_datasets")


@pytest.fixture()
def mock_cifar10():
    with tfds.testing.mock_data(num_examples=20, policy=tfds.testing.MockPolicy.USE_CODE):
        yield data.TFDSSource("cifar10", "train")


def _input_fn(source, **kwargs):
    args = dict(image_size=16, global_batch_size=5, mean=(0.5,) * 3, std=(0.25,) * 3, seed=0,
                threads=1, num_classes=10, shuffle_buffer=8)
    return data.build_records_input_fn(source, **{**args, **kwargs})


def _batches(dataset, count):
    return [(x.numpy(), y.numpy()) for x, y in dataset.take(count)]


def test_tfds_source_trains_with_its_classes_and_resumes_exactly(mock_cifar10):
    source = mock_cifar10
    assert source.num_classes == 10 and len(source.class_names) == 10
    assert source.num_examples == 20 and (source.image_key, source.label_key) == ("image", "label")
    input_fn = _input_fn(source)
    batches = _batches(input_fn(0), 6)  # 30 elements: one and a half epochs
    for images, labels in batches:
        assert images.shape == (5, 16, 16, 3) and images.dtype == np.float32
        assert labels.dtype == np.int32 and ((labels >= 0) & (labels < 10)).all()
    for (x, y), (rx, ry) in zip(batches[3:], _batches(input_fn(3), 3)):
        np.testing.assert_array_equal(x, rx)
        np.testing.assert_array_equal(y, ry)
    evaluation = data.build_records_eval_dataset(source, image_size=16, batch_size=8,
                                                 mean=(0.5,) * 3, std=(0.25,) * 3,
                                                 num_classes=10)
    assert sum(int(tf.shape(y)[0]) for _, y in evaluation) == 20


def test_unknown_or_unprepared_tfds_data_sets_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="No TFDS data set 'no_such_set'"):
        data.TFDSSource("no_such_set")
    with pytest.raises(ValueError, match=r"TFDS mnist split 'train' is not prepared in"):
        data.TFDSSource("mnist", data_dir=str(tmp_path))
