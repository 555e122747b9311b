"""tfcls: image-classification models and training for TensorFlow.

Importing tfcls selects the legacy (tf_keras) Keras for ``tf.keras`` unless the user already chose,
so that ``tf.keras`` and ``tf_keras`` are the same library in a tfcls program, and turns on
TensorFlow's oneDNN CPU kernels unless the user already chose (``TF_ENABLE_ONEDNN_OPTS=0`` keeps
the default Eigen kernels). Both are read once, when TensorFlow loads: import tfcls first.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TF turns oneDNN on by default only on CPUs with AVX-512 VNNI/BF16 or AMX; elsewhere (e.g. an
# AVX2 EPYC) its Eigen kernels train 1.6-6x slower, worst on small feature maps, where a 3x3 conv's
# input gradient on a 1x1 map takes 100x its FLOPs (benchmarks/bench_onednn.py).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from tfcls.registry import create_model, list_models, model_info  # noqa: E402

__version__ = "0.1.0"
__all__ = ["create_model", "list_models", "model_info", "__version__"]
