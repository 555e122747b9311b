"""tfcls: image-classification models and training for TensorFlow.

Importing tfcls selects the legacy (tf_keras) Keras for ``tf.keras`` unless the user already chose,
so that ``tf.keras`` and ``tf_keras`` are the same library in a tfcls program.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from tfcls.registry import create_model, list_models, model_info  # noqa: E402

__version__ = "0.1.0"
__all__ = ["create_model", "list_models", "model_info", "__version__"]
