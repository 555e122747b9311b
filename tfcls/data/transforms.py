"""Image transforms in TensorFlow ops: decoding, crops, flips, normalization.

Random transforms are stateless: they take a ``seed`` tensor of shape [2] and give the same result
for the same seed, whatever thread or device runs them.
"""
import math

import tensorflow as tf

_JPEG_MAGIC = b"\xff\xd8\xff"


def decode_image(data):
    """Encoded JPEG/PNG/BMP/GIF bytes -> uint8 (H, W, 3) RGB (first frame of a GIF)."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def is_jpeg(data):
    return tf.equal(tf.strings.substr(data, 0, len(_JPEG_MAGIC)), _JPEG_MAGIC)


def random_crop_window(image_shape, seed, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """Inception-style crop window (Szegedy et al., 2015): ``(offset_hw, size_hw)`` int32 vectors.

    The area is a fraction in ``scale`` of the image and the aspect ratio (width / height) is in
    ``ratio``; after 10 failed attempts the whole image is used.
    """
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        image_size=image_shape, bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
        min_object_covered=0.0, aspect_ratio_range=ratio, area_range=scale, max_attempts=10,
        use_image_if_no_bounding_boxes=True)
    return begin[:2], size[:2]


def decode_random_crop(data, seed, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """Decodes a random crop (``random_crop_window``) of an encoded image, uint8 (h, w, 3).

    JPEGs decode only the crop window (``decode_and_crop_jpeg``, less work): the same pixels as
    decode-then-crop except along the crop's edge, where chroma upsampling may differ slightly.
    """
    def jpeg():
        offset, size = random_crop_window(tf.image.extract_jpeg_shape(data), seed, scale, ratio)
        return tf.image.decode_and_crop_jpeg(data, tf.concat([offset, size], 0), channels=3)

    def other():
        image = decode_image(data)
        offset, size = random_crop_window(tf.shape(image), seed, scale, ratio)
        return tf.slice(image, tf.concat([offset, [0]], 0), tf.concat([size, [3]], 0))

    image = tf.cond(is_jpeg(data), jpeg, other)
    image.set_shape([None, None, 3])
    return image


def random_horizontal_flip(image, seed, prob=0.5):
    flip = tf.random.stateless_uniform([], seed) < prob
    return tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)


def resize(image, size_hw, interpolation="bilinear"):
    """Anti-aliased resize to ``size_hw`` (as PIL does when shrinking), float32 0-255."""
    return tf.image.resize(tf.cast(image, tf.float32), size_hw, method=interpolation,
                           antialias=True)


def resize_shorter_side(image, size, interpolation="bilinear"):
    """Resizes so that the shorter side is ``size`` px, keeping the aspect ratio (as timm does)."""
    shape = tf.cast(tf.shape(image)[:2], tf.float64)
    short = tf.reduce_min(shape)
    new_hw = tf.where(shape == short, tf.cast(size, tf.float64),
                      tf.floor(shape * size / short))
    return resize(image, tf.cast(new_hw, tf.int32), interpolation)


def center_crop(image, size):
    """Central ``size`` x ``size`` crop (offsets rounded as timm/torchvision do)."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    top = tf.cast(tf.round(tf.cast(height - size, tf.float32) / 2.0), tf.int32)
    left = tf.cast(tf.round(tf.cast(width - size, tf.float32) / 2.0), tf.int32)
    return image[top:top + size, left:left + size]


def eval_resize_size(image_size, crop_pct):
    """Shorter-side size before the centre crop: ``floor(image_size / crop_pct)`` (timm)."""
    if not 0.0 < crop_pct <= 1.0:
        raise ValueError(f"crop_pct must be in (0, 1], got {crop_pct}.")
    return int(math.floor(image_size / crop_pct))


def eval_preprocess(image, image_size, resize_to, mean, std, channel_order="RGB",
                    interpolation="bilinear"):
    """Evaluation view of a decoded image: shorter side to ``resize_to``, centre crop of
    ``image_size``, normalized (the eval pipeline and exported models both use it)."""
    image = resize_shorter_side(image, resize_to, interpolation)
    image = center_crop(image, image_size)
    image.set_shape([image_size, image_size, 3])
    return normalize(image, mean, std, channel_order)


def normalize(image, mean, std, channel_order="RGB"):
    """0-255 RGB pixels -> ``(pixels / 255 - mean) / std`` in ``channel_order``, float32.

    ``mean`` and ``std`` are on [0, 1] pixels and listed in ``channel_order`` (the order of the
    model's input channels, as ``model.pretrained_cfg`` gives them).
    """
    image = tf.cast(image, tf.float32) / 255.0
    if channel_order == "BGR":
        image = image[..., ::-1]
    return (image - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)
