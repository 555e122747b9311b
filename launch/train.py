"""Train a model: ``python -m launch.train --flagfile=configs/quickstart.flags``.

The original collection's form works too: ``python -m launch.train --model_name=ResNet50
--img_size=224 --epochs=90 --data_dir=/data/imagenet``. Without ``--data_dir`` the built-in shapes
data set is used. Checkpoints, TensorBoard logs (``logs/``), the run record and the flags used
(``train.flags``, reusable with ``--flagfile``) go to ``--model_dir``.
"""
import math
import os
import signal
import sys


from launch import data as launch_data
from launch.common import (SETUP_ERRORS, UserError, check_flag_spelled_once, fail,
                           preprocessing_args, quiet_logs, run_tool, save_run)
from launch.flags import FLAGS, config_settings, define_train_flags, project_flags
from launch.reporting import ReportingMixin

define_train_flags()

# Exit status after a SIGTERM/SIGINT stop that saved a checkpoint: what a shell reports for the
# signal (128 + its number), so schedulers see a preemption, not success.
STOPPED_EXIT_STATUS = {"SIGTERM": 128 + signal.SIGTERM, "SIGINT": 128 + signal.SIGINT}


def _trainers():
    import trainers  # imported late: TensorFlow starts only after the flags parsed
    return trainers


def make_trainer_class():
    class CommandLineTrainer(ReportingMixin, _trainers().ClassificationTrainer):
        """ClassificationTrainer that reports to the terminal and TensorBoard."""
    return CommandLineTrainer


# Unset --warmup_epochs: this fraction of the run, capped at DEFAULT_WARMUP_MAX_EPOCHS.
DEFAULT_WARMUP_FRACTION, DEFAULT_WARMUP_MAX_EPOCHS = 0.05, 5


def default_min_crop_scale(image_size, num_train):
    """Unset --min_crop_scale: Inception's 0.08 suits ImageNet-sized data at >= 128 px; a small
    image or a small data set loses too much in crops that small (measured in
    benchmarks/bench_defaults.py)."""
    if image_size < 64:
        return 0.5
    return 0.08 if image_size >= 128 and num_train >= 100_000 else 0.25


def default_warmup_steps(total, steps_per_epoch):
    return int(round(min(DEFAULT_WARMUP_FRACTION * total,
                         DEFAULT_WARMUP_MAX_EPOCHS * steps_per_epoch)))


def train_config(flags, steps_per_epoch, model_dir):
    """The TrainConfig of the flags: the generated ones as they are, the step counts from the
    epoch-based flags (and their defaults, an epoch) here."""
    total = flags.steps or int(math.ceil(flags.epochs * steps_per_epoch))
    to_steps = lambda epochs: int(round(epochs * steps_per_epoch))  # noqa: E731
    if flags.warmup_steps is not None:
        warmup = flags.warmup_steps
    elif flags.warmup_epochs is not None:
        warmup = to_steps(flags.warmup_epochs)
    else:
        warmup = default_warmup_steps(total, steps_per_epoch)
    warmup = min(warmup, total - 1)  # a short run (e.g. --steps=3) still ends its warmup
    return _trainers().TrainConfig.from_flat(
        **config_settings(flags), total_steps=total, warmup_steps=warmup,
        decay_steps=max(1, to_steps(flags.decay_epochs)) if flags.decay_epochs else None,
        steps_per_loop=flags.steps_per_loop or max(1, min(100, steps_per_epoch)),
        model_dir=model_dir, checkpoint_every=flags.checkpoint_every or steps_per_epoch,
        eval_every=flags.eval_every or steps_per_epoch)


def save_flags(model_dir):
    """Writes the launch flags as a flag file that ``--flagfile`` takes back."""
    lines = [flag.serialize() for flag in project_flags().values()
             if flag.name != "model_name" and flag.value is not None]
    import tensorflow as tf  # gfile: model_dir may be gs://
    tf.io.gfile.makedirs(model_dir)
    with tf.io.gfile.GFile(os.path.join(model_dir, "train.flags"), "w") as f:
        f.write("\n".join(sorted(set(lines))) + "\n")


def prepare(flags):
    """Everything before the first step; user mistakes raise SETUP_ERRORS."""
    import tfcls
    trainers = _trainers()
    canonical = tfcls.registry.resolve_name(flags.model)
    # before anything else runs TensorFlow ops (logical CPU devices must be set up first)
    strategy = trainers.create_strategy(tpu=flags.tpu, num_gpus=flags.num_gpus,
                                        cpu_replicas=flags.cpu_replicas)
    source = launch_data.open_data(
        flags.data_dir, flags.data, flags.val_split, flags.seed, flags.label_offset,
        flags.tfds_data_dir, flags.num_classes, flags.shuffle_buffer)
    class_names = source.class_names
    if len(class_names) < 2:
        raise UserError(f"{source.description} has {len(class_names)} class(es) "
                        f"({', '.join(class_names)}): a classifier needs at least two, one "
                        f"folder per class.")
    num_classes = flags.num_classes or len(class_names)
    if num_classes != len(class_names):
        raise UserError(f"--num_classes={num_classes} but the data has {len(class_names)} "
                        f"classes ({', '.join(class_names[:5])}...).")
    steps_per_epoch = source.num_train // flags.batch_size
    if steps_per_epoch < 1:
        raise UserError(f"--batch_size={flags.batch_size} is larger than the "
                        f"{source.num_train} training images: lower it.")
    augmentation = launch_data.augmentation_args(flags, num_classes)
    model_dir = flags.model_dir or os.path.join("runs", canonical)
    config = train_config(flags, steps_per_epoch, model_dir)
    overrides = {name: getattr(flags, name) for name in ("drop_rate", "aux_logits")
                 if getattr(flags, name) is not None}

    def build_model():
        return tfcls.create_model(canonical, num_classes=num_classes, input_size=flags.img_size,
                                  pretrained=flags.pretrained, **overrides)

    trainer = make_trainer_class()(build_model, config, strategy, class_names=class_names)
    model = trainer.model
    image_size = model.pretrained_cfg["input_size"]
    min_crop_scale = (flags.min_crop_scale if flags.min_crop_scale is not None
                      else default_min_crop_scale(image_size, source.num_train))
    train_fn = source.train_input_fn(model, image_size, flags.batch_size, flags.seed,
                                     min_crop_scale, flags.threads, **augmentation)
    eval_data = source.eval_dataset(model, image_size, flags.batch_size, flags.threads)
    check_existing_run(model_dir, canonical, num_classes, class_names, trainer)
    if trainers.is_chief(strategy):  # one writer of the run's files in a cluster
        save_run(model_dir, model, class_names, flags.model, data=source.record)
        save_flags(model_dir)
    return trainer, train_fn, eval_data, source


def check_existing_run(model_dir, canonical, num_classes, class_names, trainer):
    """Refuses, before anything is written into ``model_dir``, a run that cannot resume the one
    already there (another model, class count, optimizer or EMA setting)."""
    import json

    import tensorflow as tf

    from launch.common import RUN_FILE

    path = os.path.join(model_dir, RUN_FILE)
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            previous = json.load(f)
        if (previous.get("architecture"), previous.get("num_classes")) != (canonical,
                                                                           num_classes):
            raise UserError(
                f"{model_dir} holds a run of {previous.get('architecture')} "
                f"({previous.get('num_classes')} classes); this command trains {canonical} "
                f"({num_classes} classes). Use another --model_dir; the existing run is "
                f"left as it was.")
        if previous.get("class_names") and previous["class_names"] != list(class_names):
            raise UserError(f"{model_dir} was trained on the classes "
                            f"{previous['class_names'][:5]}..., this data has "
                            f"{list(class_names)[:5]}...: use another --model_dir.")
    if trainer.checkpoints is not None:
        trainer.checkpoints.check_resumable()


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}; flags take the form --name=value.")
    quiet_logs()
    try:
        check_flag_spelled_once(sys.argv, ("model", "model_name"))
        trainer, train_fn, eval_data, source = prepare(FLAGS)
    except SETUP_ERRORS as err:
        fail(str(err))
    cfg = trainer.config
    model = trainer.model
    print(f"Training {model.name} ({sum(int(v.shape.num_elements()) for v in model.trainable_variables):,} "
          f"parameters) at {model.pretrained_cfg['input_size']} px on {source.description}, "
          f"{cfg.total_steps} steps of {cfg.global_batch_size}"
          f"{f', starting from {FLAGS.pretrained} ImageNet weights' if FLAGS.pretrained else ''}"
          f"; model_dir {cfg.model_dir}", flush=True)
    chief = _trainers().is_chief(trainer.strategy)
    workers = _trainers().num_workers(trainer.strategy)
    if workers > 1:
        role = ("the chief: it writes checkpoints, logs and run.json" if chief
                else "the chief writes checkpoints, logs and run.json")
        print(f"Worker {_trainers().worker_index(trainer.strategy)} of {workers}; {role}.",
              flush=True)
    trainer.start_reporting(os.path.join(cfg.model_dir, "logs"), write_logs=chief)

    errors = (_trainers().NonFiniteLossError, *_checkpoint_errors())
    try:
        first_images, _ = next(iter(train_fn(0)))
        trainer.write_image_grid(first_images.numpy(), **preprocessing_args(model))
        logs = trainer.train(train_fn, eval_data)
    except errors as err:
        fail(str(err), status=1)
    except launch_data.data_errors() as err:
        fail(launch_data.bad_data_message(err))
    if logs.get("skipped_examples"):
        print(f"warning: {logs['skipped_examples']} training image(s) failed to decode and were "
              f"skipped (each is named in a warning above).", flush=True)
    if logs.get("stopped_by"):
        print(stop_message(logs, cfg.total_steps, cfg.model_dir), flush=True)
        sys.exit(STOPPED_EXIT_STATUS[logs["stopped_by"]])
    report_end(logs, FLAGS.target_accuracy, cfg.model_dir, len(trainer.class_names))


def _checkpoint_errors():
    from tfcls.checkpoint import CheckpointMismatchError, CheckpointWriteError
    return CheckpointMismatchError, CheckpointWriteError


def stop_message(logs, total_steps, model_dir):
    """What a signal's stop left: "checkpoint saved" only when the checkpoint of the step it
    stopped at is complete on disk (``logs["checkpoint_step"]``, set after the write finished)."""
    where = "" if logs.get("stopped_here", True) else " (received by another worker)"
    head = f"Stopped by {logs['stopped_by']}{where} at step {logs['step']}/{total_steps}"
    saved = logs.get("checkpoint_step")
    if saved == logs["step"]:
        return f"{head}: checkpoint saved in {model_dir}; run the same command to resume."
    if saved is None:
        return f"{head}: no checkpoint was written (nothing to resume from yet)."
    return (f"{head}: no checkpoint of this step was written; the last is step {saved} in "
            f"{model_dir}, from which the same command resumes.")


def report_end(logs, target, model_dir, num_classes):
    done = (f"Already trained to step {logs['step']}" if logs.get("already_trained")
            else "Done")
    if "val_top1" not in logs:
        print(f"{done} (no validation data). Run folder: {model_dir}", flush=True)
        return
    top1 = 100 * logs["val_top1"]
    line = f"{done}: validation top-1 {top1:.2f}%, top-5 {100 * logs['val_top5']:.2f}%"
    if target is not None:
        line += (f" — target {target}% reached" if top1 >= target
                 else f" — below the {target}% target")
    print(f"{line}. Run folder: {model_dir}", flush=True)
    if top1 < 150 / num_classes:
        print(f"hint: validation top-1 is near chance ({100 / num_classes:.1f}% for "
              f"{num_classes} classes) after {logs['step']} steps. A model trained from scratch "
              f"needs more updates than that: raise --epochs, or pick a smaller model; "
              f"compare the training accuracy (TensorBoard, logs/train) to tell under-training "
              f"from overfitting.", flush=True)


def run():
    run_tool(main)


if __name__ == "__main__":
    run()
