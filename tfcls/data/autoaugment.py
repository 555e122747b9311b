"""AutoAugment's ImageNet policy (Cubuk et al., 2019, "AutoAugment: Learning augmentation
strategies from data", appendix): 25 sub-policies of two ``(op, probability, magnitude bin)``
steps; each image gets one sub-policy drawn uniformly, and each of its steps applies with its
probability. On float RGB images in [0, 1], stateless (a function of the seed).

Magnitude bins 0-9 map as in the paper's search space (and torchvision's ``AutoAugment``):
rotate 0-30 degrees, shear 0-0.3, colour / contrast / sharpness / brightness factors 1 +- 0-0.9
(signed ops take a random sign), posterize 8 -> 4 bits, solarize threshold 1 -> 0. The ops are
RandAugment's (``tfcls.data.randaugment``) plus invert; geometric ops fill with grey.
"""
import tensorflow as tf

from tfcls.data import randaugment as ops

_BINS = 9.0  # magnitude bins 0..9


def invert(image, _):
    return 1.0 - image


def _signed(value, positive):
    return tf.where(positive, value, -value)


# name -> (op, argument from (magnitude bin, random sign))
_OPS = {
    "AutoContrast": (ops.auto_contrast, lambda m, s: 0.0),
    "Equalize": (ops.equalize, lambda m, s: 0.0),
    "Invert": (invert, lambda m, s: 0.0),
    "Rotate": (ops.rotate, lambda m, s: _signed(30.0 * m / _BINS, s)),
    "ShearX": (ops.shear_x, lambda m, s: _signed(0.3 * m / _BINS, s)),
    "Posterize": (ops.posterize, lambda m, s: 8 - int(round(m / (_BINS / 4)))),
    "Solarize": (ops.solarize, lambda m, s: 1.0 - m / _BINS),
    "Color": (ops.color, lambda m, s: 1.0 + _signed(0.9 * m / _BINS, s)),
    "Contrast": (ops.contrast, lambda m, s: 1.0 + _signed(0.9 * m / _BINS, s)),
    "Sharpness": (ops.sharpness, lambda m, s: 1.0 + _signed(0.9 * m / _BINS, s)),
}

# The paper's ImageNet policy: ((op, probability, magnitude bin), (op, probability, bin)).
IMAGENET_POLICY = (
    (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)),
    (("Equalize", 0.8, 8), ("Equalize", 0.6, 3)),
    (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
    (("Equalize", 0.4, 7), ("Solarize", 0.2, 4)),
    (("Equalize", 0.4, 4), ("Rotate", 0.8, 8)),
    (("Solarize", 0.6, 3), ("Equalize", 0.6, 7)),
    (("Posterize", 0.8, 5), ("Equalize", 1.0, 2)),
    (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
    (("Equalize", 0.6, 8), ("Posterize", 0.4, 6)),
    (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
    (("Rotate", 0.4, 9), ("Equalize", 0.6, 2)),
    (("Equalize", 0.0, 7), ("Equalize", 0.8, 8)),
    (("Invert", 0.6, 4), ("Equalize", 1.0, 8)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
    (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
    (("Sharpness", 0.4, 7), ("Invert", 0.6, 8)),
    (("ShearX", 0.6, 5), ("Equalize", 1.0, 9)),
    (("Color", 0.4, 0), ("Equalize", 0.6, 3)),
    (("Equalize", 0.4, 7), ("Solarize", 0.2, 4)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)),
    (("Invert", 0.6, 4), ("Equalize", 1.0, 8)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Equalize", 0.8, 8), ("Equalize", 0.6, 3)),
)
POLICIES = {"imagenet": IMAGENET_POLICY}


def apply_step(image, name, magnitude_bin, positive=True):
    """One policy step's op, always applied (for tests and custom policies)."""
    op, to_arg = _OPS[name]
    return op(image, to_arg(magnitude_bin, tf.constant(positive)))


def auto_augment(image, seed, policy="imagenet"):
    """One sub-policy of ``POLICIES[policy]`` drawn uniformly, its steps applied with their
    probabilities and random signs, all from ``seed``."""
    if policy not in POLICIES:
        raise ValueError(f"Unknown AutoAugment policy {policy!r}; known: {sorted(POLICIES)}.")
    sub_policies = POLICIES[policy]
    pick, steps_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    index = tf.random.stateless_uniform([], pick, 0, len(sub_policies), dtype=tf.int32)
    branches = [lambda steps=steps: apply_sub_policy(image, steps, steps_seed)
                for steps in sub_policies]
    return tf.ensure_shape(tf.switch_case(index, branches), image.shape)


def apply_sub_policy(image, steps, seed):
    """Each ``(op, probability, magnitude bin)`` of ``steps`` in turn, applied with its
    probability (and a random sign where the op has one), from ``seed``."""
    shape = image.shape
    step_seeds = tf.unstack(tf.random.experimental.stateless_split(seed, len(steps)))
    for (name, prob, magnitude_bin), step_seed in zip(steps, step_seeds):
        apply_seed, sign_seed = tf.unstack(tf.random.experimental.stateless_split(step_seed))
        positive = tf.random.stateless_uniform([], sign_seed) < 0.5
        op, to_arg = _OPS[name]
        applied = tf.random.stateless_uniform([], apply_seed) < prob
        image = tf.cond(applied, lambda i=image, op=op, to_arg=to_arg, m=magnitude_bin:
                        tf.ensure_shape(op(i, to_arg(m, positive)), shape), lambda i=image: i)
    return image
