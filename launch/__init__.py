"""Command-line entry points: ``python -m launch.train|evaluate|predict|export``.

TensorFlow's own start-up log (oneDNN and CPU-feature notes, the CUDA probe's "failed call to
cuInit" on a machine without a GPU) is kept off the terminal unless ``--verbosity`` (``-v``) asks
for logs: TensorFlow 2.21 writes it before it reads ``TF_CPP_MIN_LOG_LEVEL``, so the tools load
TensorFlow and probe its devices with the process's stderr pointed at /dev/null.
"""
import os
import sys

ASKS_FOR_LOGS = any(arg.split("=")[0] in ("--verbosity", "-v", "--v") for arg in sys.argv[1:])

# Read once, before TensorFlow is imported (see tfcls/__init__.py for why oneDNN).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if ASKS_FOR_LOGS else "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def _start_tensorflow_quietly():
    """Imports TensorFlow and lists its physical devices with file descriptor 2 on /dev/null
    (Python exceptions still reach the terminal: they are printed after it is restored)."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow as tf
        tf.config.list_physical_devices()  # the device probe; logical devices stay unset
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


if not ASKS_FOR_LOGS:
    _start_tensorflow_quietly()
