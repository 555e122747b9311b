"""Regularizing augmentations on normalized tensors, stateless (a function of their seed):
random erasing (Zhong et al., 2017, "Random Erasing Data Augmentation") on single images, and
mixup (Zhang et al., 2017, "mixup: Beyond Empirical Risk Minimization") / cutmix (Yun et al., 2019,
"CutMix") on batches, with the soft targets they imply, and colour jitter (torchvision's
ColorJitter) on [0, 1] images. Defaults follow timm's."""
import math

import tensorflow as tf

from tfcls.data import randaugment

_ERASE_ATTEMPTS = 10  # timm tries up to 10 boxes before giving up on an image


def random_erasing(image, seed, prob=0.25, area=(0.02, 1 / 3), aspect=(0.3, 1 / 0.3)):
    """With probability ``prob``, replaces one box of ``image`` (H, W, C; normalized) by per-pixel
    standard normal noise (timm's "pixel" mode). The box covers a fraction of the image drawn
    from ``area`` with an aspect ratio log-uniform in ``aspect``; of up to 10 drawn boxes the
    first that fits is used, and none is erased when none fits."""
    height, width, channels = image.shape
    if height is None or width is None or channels is None:
        raise ValueError(f"random_erasing needs a static image shape, got {image.shape}.")
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 5))
    erase = tf.random.stateless_uniform([], seeds[0]) < prob
    target = tf.random.stateless_uniform([_ERASE_ATTEMPTS], seeds[1], area[0], area[1])
    log_ratio = tf.random.stateless_uniform([_ERASE_ATTEMPTS], seeds[2], math.log(aspect[0]),
                                            math.log(aspect[1]))
    target *= height * width
    box_h = tf.cast(tf.round(tf.sqrt(target * tf.exp(log_ratio))), tf.int32)
    box_w = tf.cast(tf.round(tf.sqrt(target / tf.exp(log_ratio))), tf.int32)
    fits = (box_h < height) & (box_w < width)
    first = tf.argmax(tf.cast(fits, tf.int32))
    box_h, box_w = box_h[first], box_w[first]
    corner = tf.random.stateless_uniform([2], seeds[3])
    top = tf.cast(corner[0] * tf.cast(height - box_h + 1, tf.float32), tf.int32)
    left = tf.cast(corner[1] * tf.cast(width - box_w + 1, tf.float32), tf.int32)
    mask = _box_mask(height, width, top, left, box_h, box_w) & erase & tf.reduce_any(fits)
    noise = tf.random.stateless_normal(image.shape, seeds[4], dtype=image.dtype)
    return tf.where(mask[:, :, None], noise, image)


def color_jitter(image, seed, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.0):
    """Brightness, contrast and saturation factors uniform in ``[1 - x, 1 + x]`` and a hue shift
    uniform in ``[-hue, hue]`` (of a full turn), applied in that order to an RGB image in [0, 1]
    (torchvision draws the order at random). The blends are PIL's, as in RandAugment."""
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    for amount, op, op_seed in ((brightness, randaugment.brightness, seeds[0]),
                                (contrast, randaugment.contrast, seeds[1]),
                                (saturation, randaugment.color, seeds[2])):
        if amount:
            factor = tf.random.stateless_uniform([], op_seed, max(0.0, 1 - amount), 1 + amount)
            image = op(image, factor)
    if hue:
        image = tf.image.adjust_hue(image, tf.random.stateless_uniform([], seeds[3], -hue, hue))
    return image


def mix_batch(images, labels, seed, *, num_classes, mixup_alpha=0.0, cutmix_alpha=0.0, prob=1.0,
              switch_prob=0.5):
    """Mixup or cutmix of a batch with itself reversed (timm's "batch" mode):
    ``(images, targets)`` with float32 targets of shape (B, num_classes).

    With probability ``prob`` the batch is mixed, by cutmix with probability ``switch_prob`` when
    both alphas are positive (else by whichever is). ``lam ~ Beta(alpha, alpha)``; mixup gives
    ``lam * x + (1 - lam) * reversed(x)``; cutmix pastes a box of ``reversed(x)`` covering about
    ``1 - lam`` of the image, and ``lam`` becomes the area left unpasted. Targets are
    ``lam * onehot(y) + (1 - lam) * onehot(reversed(y))`` (all zero where ``y`` is -1, the
    placeholder of an image that failed to decode); label smoothing is the loss's
    (smoothing is linear, so smoothing the mixed targets equals mixing smoothed ones).
    """
    check_mix_args(mixup_alpha, cutmix_alpha, prob, switch_prob)
    targets = tf.one_hot(labels, num_classes, dtype=tf.float32)
    if mixup_alpha == 0 and cutmix_alpha == 0:
        return images, targets
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    if mixup_alpha > 0 and cutmix_alpha > 0:
        use_cutmix = tf.random.stateless_uniform([], seeds[0]) < switch_prob
    else:
        use_cutmix = tf.constant(cutmix_alpha > 0)
    alpha = tf.where(use_cutmix, float(cutmix_alpha or 1.0), float(mixup_alpha or 1.0))
    lam = _beta(alpha, seeds[1])
    other = tf.reverse(images, axis=[0])
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    pasted = _cutmix_mask(height, width, lam, seeds[2])
    cut_lam = 1.0 - tf.reduce_mean(tf.cast(pasted, tf.float32))
    mixed = tf.where(use_cutmix, tf.where(pasted[None, :, :, None], other, images),
                     lam * images + (1.0 - lam) * other)
    lam = tf.where(use_cutmix, cut_lam, lam)
    apply = tf.random.stateless_uniform([], seeds[3]) < prob
    images = tf.where(apply, mixed, images)
    lam = tf.where(apply, lam, 1.0)
    mixed_targets = lam * targets + (1.0 - lam) * tf.reverse(targets, axis=[0])
    # An undecodable image's placeholder (class id -1) keeps an all-zero row: the loss skips it.
    return images, tf.where((labels >= 0)[:, None], mixed_targets, 0.0)


def check_mix_args(mixup_alpha, cutmix_alpha, prob, switch_prob):
    """A ValueError unless the alphas are >= 0 and the probabilities in [0, 1]."""
    if not (mixup_alpha >= 0 and cutmix_alpha >= 0 and 0 <= prob <= 1 and 0 <= switch_prob <= 1):
        raise ValueError(f"mixup_alpha and cutmix_alpha must be >= 0 and prob, switch_prob in "
                         f"[0, 1]; got {mixup_alpha}, {cutmix_alpha}, {prob}, {switch_prob}.")


def _beta(alpha, seed):
    """One draw of Beta(alpha, alpha), as g1 / (g1 + g2) of two Gamma(alpha) draws."""
    gammas = tf.random.stateless_gamma([2], seed, alpha=alpha)
    return gammas[0] / (gammas[0] + gammas[1])


def _cutmix_mask(height, width, lam, seed):
    """timm's ``rand_bbox``: a box of sides ``sqrt(1 - lam)`` times the image's around a uniform
    centre, clipped to the image; a boolean (H, W) mask."""
    cut = tf.sqrt(1.0 - lam)
    cut_h = tf.cast(tf.cast(height, tf.float32) * cut, tf.int32)
    cut_w = tf.cast(tf.cast(width, tf.float32) * cut, tf.int32)
    centre = tf.random.stateless_uniform([2], seed)
    cy = tf.cast(centre[0] * tf.cast(height, tf.float32), tf.int32)
    cx = tf.cast(centre[1] * tf.cast(width, tf.float32), tf.int32)
    top, bottom = tf.maximum(cy - cut_h // 2, 0), tf.minimum(cy + cut_h // 2, height)
    left, right = tf.maximum(cx - cut_w // 2, 0), tf.minimum(cx + cut_w // 2, width)
    return _box_mask(height, width, top, left, bottom - top, right - left)


def _box_mask(height, width, top, left, box_h, box_w):
    rows = tf.range(height)[:, None]
    cols = tf.range(width)[None, :]
    return (rows >= top) & (rows < top + box_h) & (cols >= left) & (cols < left + box_w)
