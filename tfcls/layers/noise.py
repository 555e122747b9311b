"""Stateless random masks for dropout and drop path, so that training resumes bit-exactly.

Inside ``noise_seed(seed)`` (the trainer enters it around every micro-batch's forward pass with
``seed = f(run seed, step, micro-batch)``), each noise layer takes its mask from a stateless op
seeded by that seed, the global replica id and the layer's position in the forward pass: a mask
is then a function of (seed, step, replica, layer) alone, the same in an uninterrupted run and in
one resumed from a checkpoint, and free of random-generator state to save. Outside a scope (a
model called directly with ``training=True``) the layers fall back to TF's stateful generator.
"""
import contextlib
import threading

import tensorflow as tf
import tf_keras

_LOCAL = threading.local()


@contextlib.contextmanager
def noise_seed(seed):
    """Seeds the noise layers called inside the block (``seed``: int64 [2] tensor)."""
    stack = _LOCAL.__dict__.setdefault("stack", [])
    stack.append([tf.cast(seed, tf.int64), 0])
    try:
        yield
    finally:
        stack.pop()


def layer_seed():
    """The next noise layer's seed in the current scope, or None outside any scope."""
    stack = _LOCAL.__dict__.get("stack")
    if not stack:
        return None
    scope = stack[-1]
    scope[1] += 1  # the layer's position in this forward pass
    context = tf.distribute.get_replica_context()
    replica = context.replica_id_in_sync_group if context is not None else 0
    seed = fold_in(scope[0], tf.cast(replica, tf.int64))
    return fold_in(seed, scope[1])


def fold_in(seed, data):
    """``stateless_fold_in`` with Philox pinned: XLA's "auto" algorithm differs from the CPU
    kernels', and a compiled step must draw the same masks as an uncompiled one."""
    return tf.random.experimental.stateless_fold_in(seed, data, alg="philox")


def step_seed(run_seed, step):
    """The trainer's per-step noise seed: a function of the run's seed and the step."""
    return fold_in(tf.constant([int(run_seed or 0), 11], tf.int64), tf.cast(step, tf.int64))


def uniform(shape, dtype, seed=None):
    """Uniform [0, 1) noise: stateless from ``layer_seed()`` inside a scope, else stateful."""
    seed = layer_seed() if seed is None else seed
    if seed is None:
        return tf.random.uniform(shape, dtype=dtype)
    return tf.cast(_stateless_unit_uniform(shape, seed), dtype)


def _stateless_unit_uniform(shape, seed):
    """float32 in [0, 1) from 24 Philox bits. TF's float ``stateless_uniform`` gives other values
    under XLA than on its CPU kernels; the raw 32-bit draws agree, so floats are made here."""
    bits = tf.random.stateless_uniform(shape, seed, minval=None, maxval=None, dtype=tf.uint32,
                                       alg="philox")
    return tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) * (1.0 / (1 << 24))


class StatelessDropout(tf_keras.layers.Dropout):
    """tf_keras' Dropout (same config, no weights) whose mask comes from ``noise.uniform``."""

    def call(self, inputs, training=None):
        if training is None:
            training = tf_keras.backend.learning_phase()
        if not training or self.rate == 0:
            return inputs
        noise_shape = self._get_noise_shape(inputs)
        if noise_shape is None:
            noise_shape = tf.shape(inputs)
        keep = uniform(noise_shape, tf.float32) >= self.rate
        return tf.where(keep, inputs / tf.cast(1.0 - self.rate, inputs.dtype),
                        tf.zeros_like(inputs))
