"""What ``launch.export`` writes: the servable module (preprocessing, model, class names), the
SavedModel and TFLite files, staged so that an interrupted export never leaves a partial one.
Kept apart from the tool's flags so that Python code (and tests) can export without them."""
import contextlib
import json
import os
import shutil

import tensorflow as tf

from tfcls.data import transforms


class ServingModule(tf.Module):
    """The model with its preprocessing and class names, as a servable tf.Module."""

    def __init__(self, model, class_names, top_k=5):
        super().__init__()
        self.model = model
        cfg = model.pretrained_cfg
        self.image_size = int(cfg["input_size"])
        self.resize_to = transforms.eval_resize_size(self.image_size, cfg.get("crop_pct", 0.875))
        self.mean, self.std = tuple(cfg["mean"]), tuple(cfg["std"])
        self.channel_order = cfg.get("channel_order", "RGB")
        self.interpolation = cfg.get("interpolation", "bilinear")
        self.class_names = tf.constant(list(class_names))
        self.top_k = min(int(top_k), len(class_names))

    def _preprocess(self, image):
        return transforms.eval_preprocess(image, self.image_size, self.resize_to, self.mean,
                                          self.std, self.channel_order, self.interpolation)

    def _outputs(self, batch):
        probabilities = tf.nn.softmax(self.model(batch, training=False))
        top = tf.math.top_k(probabilities, self.top_k)
        return {"probabilities": probabilities, "top_k_ids": top.indices,
                "top_k_probabilities": top.values,
                "top_k_classes": tf.gather(self.class_names, top.indices),
                "class_names": self.class_names}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_bytes(self, image_bytes):
        batch = tf.map_fn(lambda data: self._preprocess(transforms.decode_image(data)),
                          image_bytes, fn_output_signature=tf.float32)
        return self._outputs(batch)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])
    def serve_images(self, images):
        return self._outputs(tf.map_fn(self._preprocess, images))

    def serve_tflite(self, images):
        """TFLite's function: one raw RGB image of the model's size, [0, 255] floats,
        preprocessed inside as ``serve_images`` does; class ids and probabilities out (TFLite
        has no string outputs: names go to the side file)."""
        # An enlargement (the centre crop is smaller than the resize), where anti-aliasing does
        # nothing: plain bilinear, which TFLite has built in (anti-aliased resizing is not).
        size, resize_to = self.image_size, self.resize_to
        enlarged = tf.image.resize(images, [resize_to, resize_to], method="bilinear")
        top = int(round((resize_to - size) / 2))
        cropped = enlarged[:, top:top + size, top:top + size]
        batch = transforms.normalize(cropped, self.mean, self.std, self.channel_order)
        outputs = self._outputs(batch)
        return {key: outputs[key] for key in
                ("probabilities", "top_k_ids", "top_k_probabilities")}

    def tflite_contract(self):
        """What model.tflite takes and gives, written beside it as model.tflite.json."""
        size = self.image_size
        return {
            "input": {"shape": [1, size, size, 3], "dtype": "float32", "range": [0, 255],
                      "channel_order": "RGB",
                      "preprocessing_inside": f"shorter side resized to {self.resize_to} px, "
                                              f"centre {size} px crop, normalized with mean "
                                              f"{list(self.mean)} and std {list(self.std)} "
                                              f"(on [0, 1] pixels, {self.channel_order} order)",
                      "note": f"resize your image to {size}x{size} first; another shape is "
                              "refused by the interpreter"},
            "outputs": ["probabilities", "top_k_ids", "top_k_probabilities"],
            "class_names": [name.decode() for name in self.class_names.numpy()],
        }


def export(model, class_names, export_dir, top_k=5, tflite=False):
    """Writes the export into ``<export_dir>.partial`` and renames it to ``export_dir`` when
    every file is complete (replacing an earlier export only then): an interrupted export
    leaves the previous one, or nothing, never a half-written SavedModel or an empty
    model.tflite."""
    module = ServingModule(model, class_names, top_k)
    signatures = {"serving_default": module.serve_bytes, "serving_images": module.serve_images}
    with staged_directory(export_dir) as staging:
        tf.saved_model.save(module, staging, signatures=signatures)
        os.makedirs(os.path.join(staging, "assets"), exist_ok=True)
        with open(os.path.join(staging, "assets", "labels.txt"), "w") as f:
            f.write("\n".join(class_names) + "\n")
        if tflite:
            write_tflite(module, staging)
    return export_dir


@contextlib.contextmanager
def staged_directory(path):
    """Yields a fresh ``<path>.partial`` to write into; on success it replaces ``path`` (by
    renames), on any error or interrupt it is deleted."""
    path = os.path.normpath(path)
    staging, previous = path + ".partial", path + ".previous"
    for stale in (staging, previous):  # left by an export killed outright (SIGKILL)
        shutil.rmtree(stale, ignore_errors=True)
    os.makedirs(staging)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if os.path.exists(path):
        os.replace(path, previous)
    os.replace(staging, path)
    shutil.rmtree(previous, ignore_errors=True)


def write_tflite(module, export_dir):
    """model.tflite and model.tflite.json. Converted from the frozen concrete function: the
    converter's default (saving the module as a SavedModel and loading it back first) took 4.5x
    as long for ResNet-18 at 32 px."""
    size = module.image_size
    concrete = tf.function(module.serve_tflite).get_concrete_function(
        tf.TensorSpec([1, size, size, 3], tf.float32, name="images"))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    converter.experimental_lower_to_saved_model = False
    flatbuffer = converter.convert()
    with open(os.path.join(export_dir, "model.tflite"), "wb") as f:
        f.write(flatbuffer)
    with open(os.path.join(export_dir, "model.tflite.json"), "w") as f:
        json.dump(module.tflite_contract(), f, indent=1)
