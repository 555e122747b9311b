"""Classify images: ``python -m launch.predict --model_dir=runs/quickstart img1.png some_folder/``.

Prints the top-k classes with probabilities for each image, as a table or (``--format=json``) as
JSON. Class names are the ones the model was trained with.
"""
import json
import os

import numpy as np
from absl import flags

from launch import data as launch_data
from launch.common import (SETUP_ERRORS, UserError, fail, load_trained_model, quiet_logs,
                           run_tool)
from launch.flags import FLAGS, define_inference_flags
from tfcls.data import is_image_file

define_inference_flags()
flags.DEFINE_integer("top_k", 5, "Classes to show per image.")
flags.DEFINE_enum("format", "table", ["table", "json"], "Output format.")


def collect_images(paths):
    """Image files among ``paths`` (folders are searched recursively) and the skipped ones."""
    if not paths:
        raise UserError("Name the images (or folders of images) to classify after the flags.")
    found, skipped = [], []
    for path in paths:
        if not os.path.exists(path):
            raise UserError(f"{path} does not exist.")
        candidates = [path] if os.path.isfile(path) else sorted(
            os.path.join(d, f) for d, _, names in os.walk(path) for f in names)
        for candidate in candidates:
            (found if is_image_file(candidate) else skipped).append(candidate)
    if not found:
        raise UserError(f"No images (jpeg, png, bmp, gif) among {', '.join(paths)}.")
    return found, skipped


def predict(model, files, class_names, top_k, batch_size):
    """``([{"file", "predictions": [{"class", "probability"}, ...]}], undecodable files)`` in file
    order."""
    dataset = launch_data.eval_dataset(files, [0] * len(files), model,
                                       model.pretrained_cfg["input_size"], batch_size)
    probabilities, decoded = [], []
    for images, labels in dataset:  # label -1: the placeholder of a file that did not decode
        probabilities.append(_softmax(model(images, training=False).numpy()))
        decoded.append(labels.numpy() >= 0)
    probabilities, decoded = np.concatenate(probabilities), np.concatenate(decoded)
    k = min(top_k, len(class_names))
    results = []
    for path, probs, ok in zip(files, probabilities, decoded):
        if not ok:
            continue
        best = np.argsort(-probs)[:k]
        results.append({"file": path, "predictions": [
            {"class": class_names[i], "probability": float(probs[i])} for i in best]})
    return results, [path for path, ok in zip(files, decoded) if not ok]


def _softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def print_table(results):
    width = max(len(r["file"]) for r in results)
    for result in results:
        shown = "  ".join(f"{p['class']} {100 * p['probability']:.1f}%"
                          for p in result["predictions"])
        print(f"{result['file']:<{width}}  {shown}")


def main(argv):
    quiet_logs()
    try:
        files, skipped = collect_images(argv[1:])
        model, run = load_trained_model(FLAGS.model_dir, FLAGS.checkpoint, FLAGS.use_ema)
    except SETUP_ERRORS as err:
        fail(str(err))
    if FLAGS.top_k < 1:
        fail(f"--top_k must be at least 1, got {FLAGS.top_k}.")
    results, undecodable = predict(model, files, run["class_names"], FLAGS.top_k,
                                   FLAGS.batch_size)
    skipped += undecodable
    if not results:
        fail(f"None of the {len(files)} image(s) could be decoded: {', '.join(files[:5])}.")
    if FLAGS.format == "json":
        print(json.dumps({"predictions": results, "skipped": skipped}, indent=1))
    else:
        print_table(results)
        if skipped:
            print(f"skipped {len(skipped)} non-image or undecodable file(s): "
                  f"{', '.join(skipped[:5])}")


if __name__ == "__main__":
    run_tool(main)
