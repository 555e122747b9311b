"""Tiny models and data shared by the trainer and checkpoint tests (and their subprocesses)."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf

import tfcls  # noqa: F401  (selects tf_keras)
import trainers
from tfcls.layers import ClassifierHead, ConvNormAct, DropPath
from tfcls.models.base import ImageClassifier


class TinyNet(ImageClassifier):
    """Stem + residual blocks with DropPath + head: a few thousand weights, any size >= 8 px."""

    min_input_size = 8
    drop_path_rule = "linear"

    def __init__(self, num_classes=4, width=8, depth=2, norm="batch", drop_path_rate=0.0,
                 drop_rate=0.0, **kwargs):
        super().__init__(num_classes=num_classes, **kwargs)
        self.stem = ConvNormAct(width, 3, strides=2, norm=norm, name="stem")
        self.blocks = [ConvNormAct(width, 3, norm=norm, name=f"block{i}") for i in range(depth)]
        self.drop_paths = [DropPath(name=f"drop_path{i}") for i in range(depth)]
        self.apply_drop_path_rule(self.drop_paths, drop_path_rate)
        self.head = ClassifierHead(num_classes, drop_rate=drop_rate, name="head")
        self.num_features = width
        self.pretrained_cfg = {**self.pretrained_cfg, "architecture": f"tinynet_{norm or 'nonorm'}"}

    def forward_stages(self, x, training=None):
        x = self.stem(x, training=training)
        for block, drop in zip(self.blocks, self.drop_paths):
            x = x + drop(block(x, training=training), training=training)
        return [x]


def tiny_model(num_classes=4, size=8, **kwargs):
    model = TinyNet(num_classes=num_classes, **kwargs)
    model.build((None, size, size, 3))
    return model


def tiny_data(num_images=32, size=8, num_classes=4, seed=0):
    """Random images whose class is readable from the mean colour, so a model can learn them."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, num_images).astype(np.int32)
    images = rng.normal(0, 1, (num_images, size, size, 3)).astype(np.float32)
    images[..., 0] += labels[:, None, None] - num_classes / 2
    return images, labels


def tiny_dataset(batch, num_images=32, size=8, num_classes=4, seed=0):
    images, labels = tiny_data(num_images, size, num_classes, seed)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch, drop_remainder=True)


class PoisonedGradientsTrainer(trainers.ClassificationTrainer):
    """A finite loss whose gradients turn NaN from the 3rd update on, on the last replica only."""

    def train_step(self, images, labels, step):
        grads, stats = super().train_step(images, labels, step)
        context = tf.distribute.get_replica_context()
        last = context.replica_id_in_sync_group == context.num_replicas_in_sync - 1
        poison = tf.logical_and(step >= 2, last)
        return [tf.where(poison, g * np.nan, g) for g in grads], stats


def run_on_two_cpus(script, *args):
    """Runs ``script`` in a fresh Python (two logical CPUs, op determinism on, ``json``, ``sys``,
    ``np``, ``tf`` and ``trainers`` imported, this folder on the path) with ``args`` in
    ``sys.argv[1:]``; returns the JSON it printed after ``RESULT ``."""
    preamble = textwrap.dedent(f"""
        import json, sys
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        two = [tf.config.LogicalDeviceConfiguration()] * 2
        tf.config.set_logical_device_configuration(cpu, two)
        tf.config.experimental.enable_op_determinism()
        sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
        import numpy as np
        import trainers
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", preamble + textwrap.dedent(script), *args],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.split("RESULT ")[-1])


def smoothed_cross_entropy(logits, labels, smoothing):
    """numpy reference: mean over examples of -sum(q * log_softmax(logits)), q the smoothed
    one-hot targets."""
    logits = np.asarray(logits, np.float64)
    num_classes = logits.shape[-1]
    log_probs = logits - logits.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    targets = np.full(logits.shape, smoothing / num_classes)
    targets[np.arange(len(labels)), labels] += 1.0 - smoothing
    return float(np.mean(-(targets * log_probs).sum(-1)))


def test_tiny_model_gives_logits_per_class():
    model = tiny_model(num_classes=5, size=8)
    images, _ = tiny_data(3, 8)
    assert model(images).shape == (3, 5)
