"""Every command-line flag of tfcls, defined once. Each tool calls the groups it uses.

The original collection's spellings work as aliases: ``--model_name`` for ``--model``.
"""
import functools
import sys

from absl import flags

from trainers.config import TrainConfig as _DEFAULTS  # plain Python: the one source of defaults

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


@_grouped("1. tfcls model flags")
def define_model_flags():
    flags.DEFINE_string("model", "resnet50", "Model name: canonical (resnet50) or the original "
                        "collection's (ResNet50). tfcls.list_models() lists them.")
    flags.DEFINE_alias("model_name", "model")
    flags.DEFINE_integer("img_size", None, "Training/evaluation image side in px (default: the "
                         "model's resolution).")
    flags.DEFINE_integer("num_classes", None, "Classes; default: inferred from the data.")
    flags.DEFINE_enum("pretrained", None, ["keras"], "Start from ImageNet weights ported from "
                      "tf_keras.applications (needs internet).")
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


@_grouped("3. tfcls optimization flags")
def define_optimization_flags():
    flags.DEFINE_integer("batch_size", _DEFAULTS.global_batch_size,
                         "Global batch size (over all replicas and "
                         "accumulation micro-batches).")
    flags.DEFINE_integer("epochs", 10, "Epochs to train (ignored when --steps is set).")
    flags.DEFINE_integer("steps", None, "Optimizer updates to train for (overrides --epochs).")
    flags.DEFINE_enum("optimizer", _DEFAULTS.optimizer, ["sgd", "adamw", "rmsprop", "lamb", "lion"],
                      "Optimizer.")
    flags.DEFINE_float("lr", _DEFAULTS.learning_rate, "Peak learning rate (after warmup).")
    flags.DEFINE_enum("lr_schedule", _DEFAULTS.lr_schedule,
                      ["cosine", "step", "exponential", "constant"],
                      "Learning-rate schedule after warmup.")
    flags.DEFINE_float("warmup_epochs", None, "Linear warmup length in epochs (default: 5% of "
                       "the run, at most 5 epochs).")
    flags.DEFINE_integer("warmup_steps", None, "Linear warmup length in steps (overrides "
                         "--warmup_epochs).")
    flags.DEFINE_float("min_lr", _DEFAULTS.min_lr, "Floor of the cosine/exponential schedule.")
    flags.DEFINE_float("decay_epochs", None, "Period of the step/exponential schedule, in epochs.")
    flags.DEFINE_float("decay_rate", _DEFAULTS.decay_rate,
                       "Factor of the step/exponential schedule.")
    flags.DEFINE_float("weight_decay", _DEFAULTS.weight_decay,
                       "Decoupled weight decay (norms and biases excluded).")
    flags.DEFINE_float("momentum", _DEFAULTS.momentum, "SGD momentum / RMSprop momentum.")
    flags.DEFINE_bool("nesterov", _DEFAULTS.nesterov, "Nesterov momentum for SGD.")
    flags.DEFINE_float("epsilon", _DEFAULTS.epsilon, "Optimizer epsilon (default: the "
                       "optimizer's; RMSprop's is TF-style 1e-3, inside the square root).")
    flags.DEFINE_float("rho", _DEFAULTS.rho, "RMSprop's decay of the squared-gradient average.")
    flags.DEFINE_float("clip_grad_norm", _DEFAULTS.clip_grad_norm,
                       "Clip gradients to this global norm.")
    flags.DEFINE_float("label_smoothing", _DEFAULTS.label_smoothing,
                       "Label smoothing of the cross-entropy.")
    flags.DEFINE_float("ema_decay", _DEFAULTS.ema_decay,
                       "EMA of the weights (e.g. 0.9999); 0 turns it off. "
                       "Evaluation and export then use the EMA weights.")
    flags.DEFINE_bool("ema_warmup", _DEFAULTS.ema_warmup,
                      "Ramp the EMA decay up early in training.")
    flags.DEFINE_integer("grad_accum_steps", _DEFAULTS.grad_accum_steps,
                         "Micro-batches per update (batch norm sees "
                         "micro-batch statistics).")
    flags.DEFINE_float("drop_path_rate", 0.0, "Stochastic depth of the deepest block (linear "
                       "in depth).")
    flags.DEFINE_enum("drop_path_schedule", _DEFAULTS.drop_path_schedule, ["constant", "linear"],
                      "constant, or linear: ramp from 0 over training (ScheduledDropPath).")


@_grouped("4. tfcls runtime flags")
def define_runtime_flags():
    flags.DEFINE_enum("precision", _DEFAULTS.precision,
                      ["float32", "mixed_float16", "mixed_bfloat16"],
                      "Compute precision; logits and loss stay float32.")
    flags.DEFINE_enum("jit_compile", "auto", ["auto", "true", "false"],
                      "XLA for the forward/backward: auto = on for GPU/TPU, off on CPU.")
    flags.DEFINE_string("tpu", None, "TPU name or 'local' on a TPU VM: use TPUStrategy.")
    flags.DEFINE_integer("num_gpus", None, "GPUs to use (default: all visible; several -> "
                         "MirroredStrategy). A multi-worker TF_CONFIG selects "
                         "MultiWorkerMirroredStrategy.")
    flags.DEFINE_integer("cpu_replicas", None, "Split the CPU into this many logical devices "
                         "and train on them with MirroredStrategy (tries the multi-replica path "
                         "on one machine; compare with a cluster run).")
    flags.DEFINE_string("model_dir", None, "Checkpoints, TensorBoard logs and the run's flags "
                        "go here; training resumes from it. Default: runs/<model>.")
    flags.DEFINE_integer("keep_checkpoints", _DEFAULTS.keep_checkpoints,
                         "Recent checkpoints kept (plus the best).")
    flags.DEFINE_integer("checkpoint_every", None, "Steps between checkpoints (default: an "
                         "epoch).")
    flags.DEFINE_integer("eval_every", None, "Steps between evaluations (default: an epoch).")
    flags.DEFINE_integer("steps_per_loop", None, "Steps inside one tf.function call; logs and "
                         "the progress bar update once per loop (default: min(100, an epoch)).")
    flags.DEFINE_integer("seed", 0, "Seed of weights' init, shuffling and augmentation.")
    flags.DEFINE_enum("nan_policy", _DEFAULTS.nan_policy,
                      ["raise", "skip"], "At a non-finite loss: stop "
                      "(raise) or drop that update (skip).")
    flags.DEFINE_bool("deterministic", _DEFAULTS.deterministic, "Turn on TensorFlow's op "
                      "determinism (tf.config.experimental.enable_op_determinism): needed for "
                      "bit-exact resume on GPU; slower.")
    flags.DEFINE_integer("target_accuracy", None, "Print whether validation top-1 reached this "
                         "percentage at the end (the quickstart uses it).")


@_grouped("1. tfcls inference flags")
def define_inference_flags():
    flags.DEFINE_string("model_dir", None, "A training run's directory.")
    flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"], "Which checkpoint to load.")
    flags.DEFINE_bool("use_ema", True, "Use the EMA weights when the run kept them.")
    flags.DEFINE_integer("batch_size", 64, "Images per inference batch.")
