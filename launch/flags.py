"""Every command-line flag of tfcls, defined once. Each tool calls the groups it uses.

The original collection's spellings work as aliases: ``--model_name`` for ``--model``.
"""
import functools
import os
import sys
import typing
from typing import Optional

from absl import flags

# plain Python (no TensorFlow): TrainConfig's fields are the one source of the training flags
from trainers.config import (AT_LEAST_ONE, FLAT_PATHS, NON_NEGATIVE, POSITIVE, POSITIVE_NUMBER,
                             leaf_fields)

FLAGS = flags.FLAGS


_GROUPS = []  # the titles of the groups below, as absl lists them


def project_flags():
    """{name: Flag} of every flag defined here (not absl's or TensorFlow's)."""
    by_module = FLAGS.flags_by_module_dict()
    return {flag.name: flag for title in _GROUPS for flag in by_module.get(title, ())}


def _grouped(title):
    """Lists the flags a ``define_*`` function adds under ``title``, first in --helpfull (absl
    groups flags by defining module and sorts the groups; importing TensorFlow brings ~150 lines
    of absl / absltest / TensorFlow flags), and in --help as key flags of the tool."""
    _GROUPS.append(title)

    def decorate(define):
        @functools.wraps(define)
        def define_grouped():
            before = set(FLAGS)
            define()
            added = {FLAGS[name] for name in FLAGS if name not in before}
            by_module = FLAGS.flags_by_module_dict()
            for module_flags in by_module.values():
                module_flags[:] = [flag for flag in module_flags if flag not in added]
            by_module[title] = sorted(added, key=lambda flag: flag.name)
            for flag in by_module[title]:
                FLAGS.register_key_flag_for_module(sys.argv[0], flag)
        return define_grouped
    return decorate


PRETRAINED_SOURCES = ("keras", "timm", "torchvision")


def _is_weight_source(value):
    return value in PRETRAINED_SOURCES or "://" in value or os.path.isfile(value)


@_grouped("1. tfcls model flags")
def define_model_flags():
    flags.DEFINE_string("model", "resnet50", "Model name: canonical (resnet50) or the original "
                        "collection's (ResNet50). tfcls.list_models() lists them.")
    flags.DEFINE_alias("model_name", "model")
    flags.DEFINE_integer("img_size", None, "Training/evaluation image side in px (default: the "
                         "model's resolution).")
    _check("img_size", (lambda size: size > 0, "a positive number of pixels"))
    flags.DEFINE_integer("num_classes", None, "Classes; default: inferred from the data.")
    _check("num_classes", (lambda n: n >= 2, ">= 2"))
    flags.DEFINE_string("pretrained", None, "Start from ImageNet weights: keras (ported from "
                        "tf_keras.applications, needs internet), timm, torchvision, or the path "
                        "of a weight file (tfcls.create_model's pretrained).")
    _check("pretrained", (_is_weight_source, f"one of {', '.join(PRETRAINED_SOURCES)} or the "
                          f"path of a weight file that exists"))
    flags.DEFINE_float("drop_rate", None, "Dropout before the classifier (default: the model's).")
    flags.DEFINE_bool("aux_logits", None, "Auxiliary classifiers of Inception v1/v3 (their "
                      "weighted loss is added in training; default: the model's, off).")


@_grouped("2. tfcls data flags")
def define_data_flags():
    flags.DEFINE_string("data_dir", None, "Image folder: <dir>/<class>/<image> or "
                        "<dir>/train/<class>/... and <dir>/val/<class>/...; or a folder (or "
                        "gs:// URL) of TFRecord shards train-*-of-* [validation-*-of-*, "
                        "classes.txt] as launch.make_tfrecords writes them. Default: the "
                        "built-in shapes data set, generated into the cache dir.")
    flags.DEFINE_string("data", None, "tfds:<name> (e.g. tfds:cifar10) for a TFDS data set, "
                        "prepared beforehand (needs the tfds extra). TFRecord shards "
                        "(train-*-of-*, validation-*-of-*; local or gs://) go in --data_dir.")
    flags.DEFINE_string("tfds_data_dir", None, "TFDS data dir holding the prepared data set "
                        "(default: TFDS's, ~/tensorflow_datasets).")
    flags.DEFINE_integer("label_offset", 0, "TFRecord shards: stored label minus this is the "
                         "class id (1 for ImageNet's own shards).")
    flags.DEFINE_integer("shuffle_buffer", None, "TFRecord/TFDS training records shuffled "
                         "together per window (default: 10000).")
    flags.DEFINE_float("val_split", 0.1, "Fraction of each class held out for validation when "
                       "the data dir has no val/ folder.")
    flags.DEFINE_string("threads", None, "Decode threads of the input pipeline, or 'autotune' "
                        "(default: autotune on accelerators, half the cores on CPU).")
    flags.DEFINE_float("min_crop_scale", None, "Smallest area fraction of the random-resized "
                       "crop. Default: from the image size and data set size: 0.5 under 64 px, "
                       "Inception's 0.08 from 128 px with 100,000+ training images, else 0.25.")
    _check("min_crop_scale", (lambda scale: 0 < scale <= 1, "in (0, 1]"))
    flags.DEFINE_float("color_jitter", 0.0, "Brightness, contrast and saturation jitter of "
                       "training images: factors in [1 - x, 1 + x] (0 = off; timm's 0.4).")
    flags.DEFINE_integer("randaugment_ops", 0, "RandAugment: ops per training image (0 = off; "
                         "2 in the paper and in timm's recipes).")
    flags.DEFINE_float("randaugment_magnitude", 9.0, "RandAugment magnitude M, 0-10.")
    flags.DEFINE_float("randaugment_mstd", 0.5, "Gaussian noise on RandAugment's magnitude, per "
                       "op (timm's mstd).")
    flags.DEFINE_enum("autoaugment", None, ["imagenet"], "AutoAugment policy for training "
                      "images (the paper's ImageNet policy; instead of RandAugment).")
    flags.DEFINE_float("random_erasing", 0.0, "Probability of erasing a random box of each "
                       "training image with noise (timm's --reprob; 0.25 in DeiT/ConvNeXt recipes).")
    flags.DEFINE_float("mixup", 0.0, "Mixup alpha: mix each training batch with itself reversed, "
                       "lam ~ Beta(alpha, alpha) (0 = off; 0.8 in DeiT/ConvNeXt recipes).")
    flags.DEFINE_float("cutmix", 0.0, "CutMix alpha: paste a box of the reversed batch covering "
                       "1 - lam of each image (0 = off; 1.0 in DeiT/ConvNeXt recipes).")
    flags.DEFINE_float("mixup_prob", 1.0, "Probability that a batch is mixed at all.")
    flags.DEFINE_float("mixup_switch_prob", 0.5, "With both --mixup and --cutmix: probability "
                       "of cutmix for a mixed batch.")


def define_train_flags():
    define_model_flags()
    define_data_flags()
    define_optimization_flags()
    define_runtime_flags()


# TrainConfig fields whose flags go in the runtime group (the others: optimization).
_RUNTIME_FIELDS = ("precision", "jit_compile", "keep_checkpoints", "async_checkpoint", "seed",
                   "deterministic", "nan_policy")


@_grouped("3. tfcls optimization flags")
def define_optimization_flags():
    flags.DEFINE_integer("epochs", 10, "Epochs to train (ignored when --steps is set).")
    _check("epochs", POSITIVE)
    flags.DEFINE_integer("steps", None, "Optimizer updates to train for (overrides --epochs).")
    _check("steps", POSITIVE)
    flags.DEFINE_float("warmup_epochs", None, "Linear warmup length in epochs (default: 5% of "
                       "the run, at most 5 epochs).")
    _check("warmup_epochs", NON_NEGATIVE)
    flags.DEFINE_integer("warmup_steps", None, "Linear warmup length in steps (overrides "
                         "--warmup_epochs).")
    _check("warmup_steps", NON_NEGATIVE)
    flags.DEFINE_float("decay_epochs", None, "Period of the step/exponential schedule, in epochs.")
    _check("decay_epochs", POSITIVE_NUMBER)
    _define_config_flags(lambda path: path[-1] not in _RUNTIME_FIELDS)


@_grouped("4. tfcls runtime flags")
def define_runtime_flags():
    _define_config_flags(lambda path: path[-1] in _RUNTIME_FIELDS)
    flags.DEFINE_string("tpu", None, "TPU name or 'local' on a TPU VM: use TPUStrategy.")
    flags.DEFINE_integer("num_gpus", None, "GPUs to use (default: all visible; several -> "
                         "MirroredStrategy). A multi-worker TF_CONFIG selects "
                         "MultiWorkerMirroredStrategy.")
    flags.DEFINE_integer("cpu_replicas", None, "Split the CPU into this many logical devices "
                         "and train on them with MirroredStrategy (tries the multi-replica path "
                         "on one machine; compare with a cluster run).")
    _check("cpu_replicas", POSITIVE)
    flags.DEFINE_string("model_dir", None, "Checkpoints, TensorBoard logs and the run's flags "
                        "go here; training resumes from it. Default: runs/<model>.")
    flags.DEFINE_integer("checkpoint_every", None, "Steps between checkpoints (default: an "
                         "epoch).")
    _check("checkpoint_every", AT_LEAST_ONE)
    flags.DEFINE_integer("eval_every", None, "Steps between evaluations (default: an epoch).")
    _check("eval_every", AT_LEAST_ONE)
    flags.DEFINE_integer("steps_per_loop", None, "Steps inside one tf.function call; logs and "
                         "the progress bar update once per loop (default: min(100, an epoch)).")
    _check("steps_per_loop", AT_LEAST_ONE)
    flags.DEFINE_integer("target_accuracy", None, "Print whether validation top-1 reached this "
                         "percentage at the end (the quickstart uses it).")


# ------------------------------------------------------------- flags generated from TrainConfig
# {flag name: TrainConfig.from_flat key} of the flags generated from TrainConfig's fields
CONFIG_FLAGS = {}


def _define_config_flags(wanted):
    """Defines a flag for each TrainConfig field with one (``path`` accepted by ``wanted``): its
    type, default, help, choices and range check are the field's."""
    flat_key = {path: key for key, path in FLAT_PATHS.items()}
    for path, field in leaf_fields():
        name = field.metadata["flag"]
        if name is None or not wanted(path):
            continue
        name = name or path[-1]
        kind = _base_type(field.type)
        meta, default = field.metadata, field.default
        if meta["choices"]:
            flags.DEFINE_enum(name, default, list(meta["choices"]), meta["help"])
        elif field.type == Optional[bool]:
            flags.DEFINE(_AutoBoolParser(), name, "auto", meta["help"],
                         serializer=flags.ArgumentSerializer())
        else:
            define = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer,
                      float: flags.DEFINE_float, str: flags.DEFINE_string}[kind]
            define(name, default, meta["help"])
        if meta["check"] and not meta["choices"]:
            _check(name, meta["check"])
        CONFIG_FLAGS[name] = flat_key[path]


def config_settings(values=FLAGS):
    """``{TrainConfig.from_flat key: value}`` of the generated flags."""
    return {key: values[name].value for name, key in CONFIG_FLAGS.items()}


def _base_type(annotation):
    """``X`` of ``Optional[X]`` (or ``X``)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def _check(name, check):
    """Refuses a value of ``--name`` that fails ``check`` (``(predicate, "what it must be")``)
    when the flags are parsed: ``error: flag --name=value: must be ...``."""
    ok, expected = check
    flags.register_validator(name, lambda value: value is None or ok(value),
                             message=f"must be {expected.removesuffix(' or None')}")


class _AutoBoolParser(flags.ArgumentParser):
    """auto | true | false -> None | True | False."""

    def parse(self, argument):
        if argument is None or isinstance(argument, bool):
            return argument
        value = {"auto": None, "true": True, "false": False}.get(str(argument).lower(), "?")
        if value == "?":
            raise ValueError(f"{argument!r} is not auto, true or false")
        return value

    def flag_type(self):
        return "auto|true|false"


@_grouped("1. tfcls inference flags")
def define_inference_flags():
    flags.DEFINE_string("model_dir", None, "A training run's directory.")
    flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"], "Which checkpoint to load.")
    flags.DEFINE_bool("use_ema", True, "Use the EMA weights when the run kept them.")
    flags.DEFINE_integer("batch_size", 64, "Images per inference batch.")
