"""Weight conversion from other implementations: tf_keras.applications, timm and torchvision."""
from tfcls.convert.keras_applications import (  # noqa: F401
    CAFFE_PREPROCESSING, TF_PREPROCESSING, TORCH_PREPROCESSING, PretrainedUnavailableError,
    from_keras_applications, load_pretrained)
from tfcls.convert.torch_files import read_state_dict  # noqa: F401
from tfcls.convert.torch_port import TorchPortError, from_torch  # noqa: F401
from tfcls.convert.torch_twins import torch_twin  # noqa: F401
