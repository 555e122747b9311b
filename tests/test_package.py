"""What ``import tfcls`` sets up before TensorFlow loads: tf_keras as tf.keras, oneDNN kernels,
each only where the user has not chosen."""
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

_PROBE = ("import tfcls, tensorflow as tf, tf_keras\n"
          "from tensorflow.python.util import _pywrap_util_port as port\n"
          "print(port.IsMklEnabled(), tf.keras.layers.Layer is tf_keras.layers.Layer)\n")


@pytest.mark.parametrize("user_setting, onednn", [(None, "True"), ("0", "False")])
def test_import_tfcls_turns_on_onednn_unless_the_user_chose(user_setting, onednn):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_USE_LEGACY_KERAS")}
    if user_setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = user_setting
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [onednn, "True"]
