"""Weight conversion from other implementations."""
from tfcls.convert.keras_applications import (  # noqa: F401
    CAFFE_PREPROCESSING, TF_PREPROCESSING, TORCH_PREPROCESSING, PretrainedUnavailableError,
    from_keras_applications, load_pretrained)
