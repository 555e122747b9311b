"""Image folder -> TFRecord shards in the ImageNet layout:

    python -m launch.make_tfrecords --data_dir=<image folder> --out=<dir or gs://...> --shards=8

Writes ``train-0000i-of-0000N`` (and ``validation-...`` when the folder has a ``val/`` split or
``--val_split`` is above 0) and ``classes.txt`` (one class name per line, in label order) and ``shards.json`` (records per
shard). Training images are shuffled over the shards (``--seed``), validation images kept in
order. Labels
are the folder's class ids plus ``--label_offset`` (1 reproduces ImageNet's own shards).
"""
import os

from absl import flags

from launch import data as launch_data
from launch.common import SETUP_ERRORS, UserError, check_writable_dir, fail, quiet_logs, run_tool
from launch.flags import FLAGS

flags.DEFINE_string("data_dir", None, "Image folder: <dir>/<class>/<image> or "
                    "<dir>/train/<class>/... and <dir>/val/<class>/....")
flags.DEFINE_string("out", None, "Output directory (local or gs://...).")
flags.DEFINE_integer("shards", 8, "Training shards; validation gets max(1, shards // 8).")
flags.DEFINE_float("val_split", 0.0, "Fraction of each class written as validation when the "
                   "folder has no val/ split.")
flags.DEFINE_integer("label_offset", 0, "Added to every class id (1: ImageNet's convention).")
flags.DEFINE_integer("seed", 0, "Seed of the validation split and of the shuffle of training "
                     "images over the shards (so that each shard mixes the classes).")


def make(flags_):
    from tfcls.data import tfrecord
    if not flags_.data_dir or not flags_.out:
        raise UserError("--data_dir and --out are both needed.")
    if flags_.label_offset < 0:
        raise UserError(f"--label_offset must be >= 0, got {flags_.label_offset}.")
    if not flags_.out.startswith("gs://"):
        check_writable_dir(flags_.out, "TFRecord shards")
    train_files, train_labels, val_files, val_labels, class_names, _ = launch_data.load_files(
        flags_.data_dir, flags_.val_split, flags_.seed)
    if not 1 <= flags_.shards <= len(train_files):
        raise UserError(f"--shards must be between 1 and the {len(train_files)} training images, "
                        f"got {flags_.shards}.")
    written = {"train": tfrecord.write_shards(train_files, train_labels, flags_.out, "train",
                                              flags_.shards, flags_.label_offset,
                                              shuffle_seed=flags_.seed)}
    if val_files:
        shards = min(max(1, flags_.shards // 8), len(val_files))
        written["validation"] = tfrecord.write_shards(val_files, val_labels, flags_.out,
                                                      "validation", shards, flags_.label_offset)
    import tensorflow as tf
    with tf.io.gfile.GFile(os.path.join(flags_.out, "classes.txt"), "w") as f:
        f.write("".join(f"{name}\n" for name in class_names))
    counts = {"train": len(train_files), "validation": len(val_files)}
    return written, counts, class_names


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}")
    quiet_logs()
    try:
        written, counts, class_names = make(FLAGS)
    except SETUP_ERRORS as err:
        fail(str(err))
    for split, paths in written.items():
        print(f"{split}: {counts[split]} images in {len(paths)} shards ({paths[0]} ...)")
    print(f"{len(class_names)} classes in {os.path.join(FLAGS.out, 'classes.txt')}")


if __name__ == "__main__":
    run_tool(main)
