"""Command-line entry points: ``python -m launch.train|evaluate|predict|export``."""
import os

# Read once, before TensorFlow is imported (see tfcls/__init__.py for why oneDNN).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
