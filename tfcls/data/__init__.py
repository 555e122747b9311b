"""Input data: image-folder data sets, the built-in shapes data set, and tf.data pipelines."""
from tfcls.data.image_folder import (IMAGE_EXTENSIONS, find_classes, is_image_file,
                                     load_image_folder, scan_image_folder, split_by_fraction)
from tfcls.data.pipeline import (build_eval_dataset, build_synthetic_input_fn,
                                 build_train_input_fn, default_threads)
from tfcls.data.record_pipeline import (DEFAULT_SHUFFLE_BUFFER, build_records_eval_dataset,
                                        build_records_input_fn)
from tfcls.data.records import TFRecordSource
from tfcls.data.shapes import SHAPE_KINDS, default_shapes_root, make_shapes_dataset

from tfcls.data.tfds_source import TFDSSource

__all__ = [
    "DEFAULT_SHUFFLE_BUFFER", "TFDSSource", "TFRecordSource", "build_records_eval_dataset",
    "build_records_input_fn", "IMAGE_EXTENSIONS", "SHAPE_KINDS", "build_eval_dataset", "build_synthetic_input_fn",
    "build_train_input_fn",
    "default_shapes_root", "default_threads", "find_classes", "is_image_file",
    "load_image_folder", "make_shapes_dataset", "scan_image_folder", "split_by_fraction",
]
