"""Evaluate a trained model: ``python -m launch.evaluate --model_dir=runs/quickstart``.

Prints top-1/top-5 and per-class accuracy, and writes ``evaluation.json`` and a confusion-matrix
picture (``confusion_matrix.png``) to ``--output_dir`` (default: the model dir). Uses the EMA
weights when the run kept them (``--nouse_ema`` for the raw ones). Without ``--data_dir`` it
evaluates on the run's own validation split (data dir, split and seed from ``run.json``).
"""
import json
import os

import numpy as np
from absl import flags

from launch import data as launch_data
from launch.common import (SETUP_ERRORS, UserError, check_writable_dir, describe_checkpoint,
                           fail, load_trained_model, quiet_logs, run_tool)
from launch.flags import FLAGS, define_data_flags, define_inference_flags
from launch.plots import confusion_matrix_png

define_inference_flags()
define_data_flags()
flags.DEFINE_string("output_dir", None, "Where evaluation.json and the confusion matrix go "
                    "(default: --model_dir).")


def confusion_matrix(labels, predictions, num_classes):
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def evaluate(model, dataset, num_classes):
    """Top-1/top-5, per-class accuracy and the confusion matrix of ``model`` on ``dataset``."""
    labels, top5 = [], []
    for images, batch_labels in dataset:
        logits = model(images, training=False).numpy()
        top5.append(np.argsort(-logits, axis=1)[:, :5])
        labels.append(batch_labels.numpy())
    labels, top5 = np.concatenate(labels), np.concatenate(top5)
    decoded = labels >= 0  # -1: an image that failed to decode (its placeholder)
    labels, top5 = labels[decoded], top5[decoded]
    matrix = confusion_matrix(labels, top5[:, 0], num_classes)
    per_class = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    return {"top1": float(np.mean(top5[:, 0] == labels)),
            "top5": float(np.mean((top5 == labels[:, None]).any(axis=1))),
            "num_images": int(len(labels)), "per_class_accuracy": per_class.tolist(),
            "confusion_matrix": matrix.tolist()}


def prepare(flags_):
    model, run = load_trained_model(flags_.model_dir, flags_.checkpoint, flags_.use_ema)
    saved = run["data"]  # by default, the run's own validation data
    given = lambda name: flags_[name].present  # noqa: E731
    if given("data_dir") or given("data"):
        saved = {}
    source = launch_data.open_data(
        flags_.data_dir if given("data_dir") else saved.get("data_dir"),
        flags_.data if given("data") else saved.get("data"),
        flags_.val_split if given("val_split") else saved.get("val_split", flags_.val_split),
        saved.get("seed", 0),
        flags_.label_offset if given("label_offset") else saved.get("label_offset", 0),
        flags_.tfds_data_dir if given("tfds_data_dir") else saved.get("tfds_data_dir"),
        len(run["class_names"]))
    if source.class_names != run["class_names"]:
        raise UserError(f"The data's classes {source.class_names[:5]}... are not the "
                        f"{len(run['class_names'])} classes the model was trained on "
                        f"({run['class_names'][:5]}...).")
    if not source.num_val:
        raise UserError("No validation images: pass a --data_dir with a val/ folder (or "
                        "validation-* shards) or a --val_split above 0.")
    dataset = source.eval_dataset(model, model.pretrained_cfg["input_size"], flags_.batch_size,
                                  flags_.threads)
    return model, run, dataset


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}")
    quiet_logs()
    out = FLAGS.output_dir or FLAGS.model_dir
    try:
        if out:
            check_writable_dir(out, "evaluation results")
        model, run, dataset = prepare(FLAGS)
    except SETUP_ERRORS as err:
        fail(str(err))
    names = run["class_names"]
    print(f"Evaluating {model.name}, {describe_checkpoint(run)}", flush=True)
    result = evaluate(model, dataset, len(names))
    print(f"{model.name} on {result['num_images']} images: top-1 {100 * result['top1']:.2f}%  "
          f"top-5 {100 * result['top5']:.2f}%")
    width = max(len(n) for n in names)
    for name, accuracy in zip(names, result["per_class_accuracy"]):
        print(f"  {name:<{width}}  {100 * accuracy:6.2f}%")
    with open(os.path.join(out, "evaluation.json"), "w") as f:
        json.dump({"class_names": names, **result}, f, indent=1)
    title = (f"{os.path.basename(os.path.normpath(FLAGS.model_dir))}: {model.name}, "
             f"{describe_checkpoint(run)}, top-1 {100 * result['top1']:.2f}%")
    confusion_matrix_png(np.asarray(result["confusion_matrix"]), names,
                         os.path.join(out, "confusion_matrix.png"), title=title)
    print(f"Wrote {os.path.join(out, 'evaluation.json')} and confusion_matrix.png")


if __name__ == "__main__":
    run_tool(main)
