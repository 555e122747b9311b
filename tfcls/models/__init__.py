"""Model families. Importing this package imports every family module in it (any module not
starting with "_"), which registers each variant."""
import importlib
import pkgutil

from tfcls.models.base import ImageClassifier  # noqa: F401

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
