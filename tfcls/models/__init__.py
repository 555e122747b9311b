"""Model families. Importing this package imports every family module in it (any module not
starting with "_"), which registers each variant (``register_family`` with a table of
``Variant`` rows)."""
import importlib
import pkgutil

from tfcls.models.base import (  # noqa: F401
    CAFFE_PREPROCESSING, IMAGENET_CFG, TF_PREPROCESSING, TORCH_PREPROCESSING, ImageClassifier)
from tfcls.models._registration import (  # noqa: F401
    ModelEntry, Variant, all_entries, register_family)

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
