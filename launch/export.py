"""Export a trained model: ``python -m launch.export --model_dir=runs/quickstart``.

Writes a SavedModel (``--export_dir``, default ``model_dir/export``) that plain TensorFlow can
serve without tfcls, with two signatures, both returning ``probabilities``, the ``top_k`` class
ids, names and probabilities:

* ``serving_default``: ``image_bytes``, a batch of encoded images (jpeg, png, bmp, gif);
* ``serving_images``: ``images``, float32 RGB pixels in [0, 255], shape [batch, height, width, 3].

Both resize and centre-crop as evaluation does and normalize as the model expects. The class
names are bundled (``class_names`` in the signatures' outputs and ``assets/labels.txt``).
``--tflite`` also writes ``model.tflite``: one raw RGB image of the model's input size ([0, 255]
floats), preprocessed inside the graph as ``serving_images`` does; ``model.tflite.json`` beside it
states that contract and the class names.
"""
import os

from absl import flags

from launch.common import (SETUP_ERRORS, check_writable_dir, describe_checkpoint, fail,
                           load_trained_model, quiet_logs, run_tool)
from launch.flags import FLAGS, define_inference_flags
from launch.serving import export

define_inference_flags()
flags.DEFINE_string("export_dir", None, "SavedModel directory (default: <model_dir>/export).")
flags.DEFINE_integer("top_k", 5, "Top classes returned by the signatures.")
flags.DEFINE_bool("tflite", False, "Also write a TFLite model (model.tflite).")


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}")
    quiet_logs()
    try:
        model, run = load_trained_model(FLAGS.model_dir, FLAGS.checkpoint, FLAGS.use_ema)
        export_dir = FLAGS.export_dir or os.path.join(FLAGS.model_dir, "export")
        replacing = os.path.isdir(export_dir) and bool(os.listdir(export_dir))
        check_writable_dir(export_dir, "export")
    except SETUP_ERRORS as err:
        fail(str(err))
    if replacing:
        print(f"Replacing the existing export in {export_dir}", flush=True)
    try:
        export(model, run["class_names"], export_dir, FLAGS.top_k, FLAGS.tflite)
    except OSError as err:
        fail(f"cannot write the export to {export_dir}: {err}")
    print(f"Exported {model.name} ({describe_checkpoint(run)}) to {export_dir}"
          + (" (with model.tflite)" if FLAGS.tflite else ""))


if __name__ == "__main__":
    run_tool(main)
