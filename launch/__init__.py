"""Command-line entry points: ``python -m launch.train|evaluate|predict|export``."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
