"""The trainer's side of checkpoints: which variables make the state, save and resume."""
import logging

from tfcls.checkpoint import (CheckpointManager, CheckpointMismatchError, CheckpointWriteError,
                              all_finite, assign_state, check_compatible, checkpoint_dir,
                              model_metadata, optimizer_variable_paths, snapshot, variable_paths)

from trainers.strategy import num_workers

log = logging.getLogger(__name__)


class NonFiniteWeightsError(FloatingPointError):
    """Weights that are NaN or infinite, which are never written to a checkpoint."""


def training_state(model, optimizer, ema, ema_paths, counters):
    """``{stable path: variable}``: model, optimizer state, EMA (its averages under the paths
    ``ema_paths`` of the variables they average) and ``counters`` ({name: variable}, saved as
    ``trainer/<name>``)."""
    model_vars = variable_paths(model, "model")
    state = dict(model_vars)
    state.update(optimizer_variable_paths(optimizer, model_vars))
    if ema is not None:
        for path, average in zip(ema_paths, ema.average_variables):
            state["ema" + path[len("model"):]] = average
    state.update({f"trainer/{name}": variable for name, variable in counters.items()})
    return state


def checkpoint_meta(model, config, strategy, has_ema, class_names=None):
    """The metadata saved with every checkpoint: the model (architecture, classes) and what the
    training state's layout depends on besides it (optimizer and EMA), with the layout of the
    run (replicas, workers, per-replica batch) that a resume reports on."""
    meta = model_metadata(model, class_names)
    replicas = strategy.num_replicas_in_sync
    meta["training"] = {"optimizer": config.optimizer.name, "ema": bool(has_ema),
                        "precision": config.precision, "replicas": replicas,
                        "workers": num_workers(strategy),
                        "per_replica_batch": config.global_batch_size // replicas}
    return meta


def layout_changes(saved, current):
    """What a resume on another replica/worker layout changes, as one sentence (or None)."""
    if not saved or "replicas" not in saved:
        return None
    before = (saved["replicas"], saved.get("workers", 1), saved.get("per_replica_batch"))
    after = (current["replicas"], current["workers"], current["per_replica_batch"])
    if before == after:
        return None
    return (f"The checkpoint was trained on {before[0]} replica(s) in {before[1]} worker(s), "
            f"{before[2]} images per replica; this run has {after[0]} in {after[1]}, {after[2]} "
            f"per replica (same global batch). Weights, optimizer state, EMA and the schedules "
            f"carry over; batch-norm statistics are computed per replica, dropout and drop-path "
            f"masks are keyed by replica, and TFRecord/TFDS input is split per worker, so from "
            f"here the run follows the new layout rather than the old one bit for bit.")


def check_same_training_setup(saved, current, directory):
    """Refuses a resume whose optimizer slots or EMA would not match, saying which differs."""
    if not saved:  # checkpoints written before the setup was recorded
        return
    differences = []
    if saved.get("optimizer") != current["optimizer"]:
        differences.append(f"optimizer {saved.get('optimizer')} (its slots are in the "
                           f"checkpoint), now {current['optimizer']}")
    if saved.get("ema") != current["ema"]:
        differences.append(f"EMA {'on' if saved.get('ema') else 'off'}, now "
                           f"{'on' if current['ema'] else 'off'}")
    if differences:
        raise CheckpointMismatchError(
            f"The run in {directory} was trained with {'; '.join(differences)}. Resume with "
            f"the same optimizer and EMA setting, or start a new model_dir (to fine-tune from "
            f"this run, load its weights with tfcls.checkpoint.restore_for_inference).")


class TrainerCheckpoints:
    """Saves a training state (``{stable path: variable}``, e.g. ``Trainer.state_dict()``) with
    its metadata (``checkpoint_meta``) under ``model_dir/checkpoints`` and restores it on
    resume."""

    def __init__(self, state, meta, model_dir, keep, async_save, is_chief):
        self.directory = checkpoint_dir(model_dir)
        self.meta = meta
        self.manager = CheckpointManager(self.directory, keep=keep, async_save=async_save,
                                         is_chief=is_chief)
        self.state = state
        self.last_saved_step = None
        self.layout_change = None  # set by restore_latest when the replica layout changed

    def save(self, step, metrics=None):
        """Writes the current state as checkpoint ``step``; refuses non-finite weights."""
        if self.last_saved_step == step and not metrics:
            return False
        self.manager.wait()  # one write at a time; the previous one must be complete
        if not all_finite(self.state):
            raise NonFiniteWeightsError(
                f"Weights at step {step} are not finite; no checkpoint was written. The last "
                f"good checkpoint in {self.directory} is step {self.manager.latest_step()}.")
        saved = self.manager.save(step, snapshot(self.state), self.meta, metrics)
        self.last_saved_step = step
        return saved

    def raise_write_failure(self):
        """After a loop stopped for a failed write: the chief's CheckpointWriteError, or on
        another worker one saying that it stopped with the chief."""
        self.manager.wait()
        raise CheckpointWriteError("the chief worker could not write a checkpoint (its error "
                                   "says why): this worker stopped with it.")

    def check_resumable(self):
        """Raises CheckpointMismatchError when the latest checkpoint cannot be resumed here."""
        step = self.manager.latest_step()
        if step is not None:
            meta = self.manager.read_meta(step)
            check_compatible(meta, self.meta, self.directory)
            check_same_training_setup(meta.get("training"), self.meta["training"],
                                      self.directory)

    def restore_latest(self):
        """Restores the latest checkpoint if there is one; returns its step (or None)."""
        step = self.manager.latest_step()
        if step is None:
            return None
        arrays, meta = self.manager.restore(step)
        check_compatible(meta, self.meta, self.directory)
        check_same_training_setup(meta.get("training"), self.meta["training"], self.directory)
        assign_state(self.state, arrays, self.directory)
        log.info("Resumed from step %d (%s).", step, self.directory)
        self.layout_change = layout_changes(meta.get("training"), self.meta["training"])
        if self.layout_change:
            log.warning(self.layout_change)
        self.last_saved_step = step
        return step

    def saved_metrics(self, step):
        """The validation metrics recorded with checkpoint ``step`` ({} when none)."""
        return dict(self.manager.read_meta(step).get("metrics") or {})

    def close(self):
        self.manager.wait()
        self.manager.close()
