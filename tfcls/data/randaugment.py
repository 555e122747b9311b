"""RandAugment (Cubuk et al., 2019, "RandAugment: Practical automated data augmentation with a
reduced search space"): N operations drawn uniformly from the paper's 14, each at magnitude M
(0-10), on float RGB images in [0, 1] before normalization. Stateless: a function of the seed.

Magnitudes map as in timm's "increasing" variant (``inc1``, which the DeiT and ConvNeXt recipes
use): rotate up to 30 degrees, shear 0.3, translate 45% of the side, colour / contrast /
brightness / sharpness factors 1 +- 0.9, each with a random sign; solarize threshold 1 -> 0.
Posterize keeps 8 -> 4 bits (the paper's 4-8 bit range, stronger as M grows; timm's increasing
form goes 4 -> 0 bits). So M = 0 leaves every op but autocontrast and equalize the identity. As in
the paper, every drawn op is applied (timm applies each with probability 0.5). Geometric ops fill
with grey.
"""
import math

import tensorflow as tf

_MAX_LEVEL = 10.0
_FILL = 0.5  # grey, timm's (128, 128, 128)


def _blend(degenerate, image, factor):
    """PIL's ImageEnhance: ``degenerate + factor * (image - degenerate)``, clipped to [0, 1]."""
    return tf.clip_by_value(degenerate + factor * (image - degenerate), 0.0, 1.0)


def _grey(image):
    return tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(image))


def identity(image, _):
    return image


def auto_contrast(image, _):
    """Each channel stretched to [0, 1]; a constant channel is left as it is."""
    low = tf.reduce_min(image, axis=[0, 1], keepdims=True)
    high = tf.reduce_max(image, axis=[0, 1], keepdims=True)
    span = high - low
    return tf.where(span > 0, (image - low) / tf.where(span > 0, span, 1.0), image)


def equalize(image, _):
    """PIL's ImageOps.equalize per channel on the 8-bit values."""
    pixels = tf.cast(tf.round(image * 255.0), tf.int32)
    channels = [_equalize_channel(pixels[:, :, c]) for c in range(3)]
    return tf.cast(tf.stack(channels, axis=-1), tf.float32) / 255.0


def _equalize_channel(channel):
    histogram = tf.math.bincount(tf.reshape(channel, [-1]), minlength=256, maxlength=256)
    last_nonzero = tf.gather(histogram, tf.reduce_max(tf.where(histogram > 0)))
    step = (tf.reduce_sum(histogram) - last_nonzero) // 255
    safe_step = tf.maximum(step, 1)
    lut = (tf.cumsum(histogram, exclusive=True) + safe_step // 2) // safe_step
    lut = tf.clip_by_value(lut, 0, 255)
    return tf.where(step > 0, tf.gather(lut, channel), channel)


def _transform(image, matrix):
    """Output pixel (x, y) samples the input at ``matrix @ (x, y, 1)`` (bilinear, grey fill)."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    transforms = tf.concat([tf.reshape(tf.cast(matrix, tf.float32), [1, 6]),
                            tf.zeros([1, 2], tf.float32)], axis=1)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transforms, output_shape=tf.stack([height, width]),
        fill_value=_FILL, interpolation="BILINEAR", fill_mode="CONSTANT")
    return out[0]


def rotate(image, degrees):
    """Counter-clockwise by ``degrees`` about the image centre (PIL's Image.rotate)."""
    theta = degrees * math.pi / 180.0
    cx = (tf.cast(tf.shape(image)[1], tf.float32) - 1) / 2
    cy = (tf.cast(tf.shape(image)[0], tf.float32) - 1) / 2
    cos, sin = tf.cos(theta), tf.sin(theta)
    return _transform(image, [cos, -sin, cx - cos * cx + sin * cy,
                              sin, cos, cy - sin * cx - cos * cy])


def shear_x(image, shear):
    return _transform(image, [1.0, shear, 0.0, 0.0, 1.0, 0.0])


def shear_y(image, shear):
    return _transform(image, [1.0, 0.0, 0.0, shear, 1.0, 0.0])


def translate_x(image, fraction):
    return _transform(image, [1.0, 0.0, fraction * tf.cast(tf.shape(image)[1], tf.float32),
                              0.0, 1.0, 0.0])


def translate_y(image, fraction):
    return _transform(image, [1.0, 0.0, 0.0, 0.0, 1.0,
                              fraction * tf.cast(tf.shape(image)[0], tf.float32)])


def solarize(image, threshold):
    """Pixels at or above ``threshold`` inverted."""
    return tf.where(image < threshold, image, 1.0 - image)


def posterize(image, bits):
    """Keep the top ``bits`` (4-8) of each 8-bit value."""
    shift = tf.cast(8 - bits, tf.uint8)
    pixels = tf.cast(tf.round(image * 255.0), tf.uint8)
    pixels = tf.bitwise.left_shift(tf.bitwise.right_shift(pixels, shift), shift)
    return tf.cast(pixels, tf.float32) / 255.0


def color(image, factor):
    return _blend(_grey(image), image, factor)


def contrast(image, factor):
    return _blend(tf.reduce_mean(tf.image.rgb_to_grayscale(image)), image, factor)


def brightness(image, factor):
    return _blend(tf.zeros_like(image), image, factor)


def sharpness(image, factor):
    """Blend with PIL's SMOOTH filter (3x3, centre weight 5 of 13); the border stays unfiltered."""
    kernel = tf.constant([[1, 1, 1], [1, 5, 1], [1, 1, 1]], tf.float32) / 13.0
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, 3, 1])
    smooth = tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "VALID")[0]
    smooth = tf.pad(smooth, [[1, 1], [1, 1], [0, 0]])
    inner = tf.pad(tf.ones_like(smooth[1:-1, 1:-1, :1]), [[1, 1], [1, 1], [0, 0]]) > 0
    return _blend(tf.where(inner, smooth, image), image, factor)


def _signed(value, sign):
    return tf.where(sign, value, -value)


# (name, op, argument from (magnitude in [0, 1], random sign))
OPS = [
    ("identity", identity, lambda m, s: m),
    ("auto_contrast", auto_contrast, lambda m, s: m),
    ("equalize", equalize, lambda m, s: m),
    ("rotate", rotate, lambda m, s: _signed(30.0 * m, s)),
    ("solarize", solarize, lambda m, s: 1.0 - m),
    ("color", color, lambda m, s: 1.0 + _signed(0.9 * m, s)),
    ("posterize", posterize, lambda m, s: 8 - tf.cast(4.0 * m, tf.int32)),
    ("contrast", contrast, lambda m, s: 1.0 + _signed(0.9 * m, s)),
    ("brightness", brightness, lambda m, s: 1.0 + _signed(0.9 * m, s)),
    ("sharpness", sharpness, lambda m, s: 1.0 + _signed(0.9 * m, s)),
    ("shear_x", shear_x, lambda m, s: _signed(0.3 * m, s)),
    ("shear_y", shear_y, lambda m, s: _signed(0.3 * m, s)),
    ("translate_x", translate_x, lambda m, s: _signed(0.45 * m, s)),
    ("translate_y", translate_y, lambda m, s: _signed(0.45 * m, s)),
]


def apply_op(image, name, magnitude, positive=True):
    """One op of ``OPS`` by name at ``magnitude`` in [0, 10] (for tests and custom policies)."""
    _, op, to_arg = next(entry for entry in OPS if entry[0] == name)
    return op(image, to_arg(tf.constant(magnitude / _MAX_LEVEL, tf.float32),
                            tf.constant(positive)))


def check_args(num_ops, magnitude, magnitude_std):
    """A ValueError unless ``num_ops >= 0``, ``magnitude`` in [0, 10], ``magnitude_std >= 0``."""
    if not (num_ops >= 0 and 0 <= magnitude <= _MAX_LEVEL and magnitude_std >= 0):
        raise ValueError(f"RandAugment needs num_ops >= 0, magnitude in [0, 10] and "
                         f"magnitude_std >= 0; got {num_ops}, {magnitude}, {magnitude_std}.")


def rand_augment(image, seed, num_ops=2, magnitude=9.0, magnitude_std=0.0):
    """``num_ops`` ops drawn uniformly (with replacement) from ``OPS``, each at ``magnitude``
    (plus Gaussian noise of ``magnitude_std``, clipped to [0, 10], as timm's ``mstd``)."""
    check_args(num_ops, magnitude, magnitude_std)
    if num_ops == 0:
        return image
    shape = image.shape
    for seed_i in tf.unstack(tf.random.experimental.stateless_split(seed, num_ops)):
        pick, sign_seed, noise_seed = tf.unstack(tf.random.experimental.stateless_split(seed_i, 3))
        index = tf.random.stateless_uniform([], pick, 0, len(OPS), dtype=tf.int32)
        positive = tf.random.stateless_uniform([], sign_seed) < 0.5
        level = magnitude + magnitude_std * tf.random.stateless_normal([], noise_seed)
        level = tf.clip_by_value(level, 0.0, _MAX_LEVEL) / _MAX_LEVEL
        branches = [lambda op=op, to_arg=to_arg: op(image, to_arg(level, positive))
                    for _, op, to_arg in OPS]
        image = tf.ensure_shape(tf.switch_case(index, branches), shape)
    return image
