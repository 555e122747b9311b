"""Orbax checkpoints of a training state: the last K steps plus the best by validation top-1.

A checkpoint is a step directory holding ``state`` (a pytree of numpy arrays keyed by stable
variable paths, see ``tfcls.checkpoint.state``) and ``meta`` (JSON: architecture, class count,
class names, step, metrics). Orbax writes each step to a temporary directory and renames it when
complete, so a save interrupted half-way never replaces the last good checkpoint: unfinished
temporary directories are ignored on restore.
"""
import os

import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from tfcls.checkpoint.state import flatten

FORMAT_VERSION = 1
BEST_METRIC = "top1"


class CheckpointMismatchError(ValueError):
    """A checkpoint written for another model (architecture, class count or variables)."""


def describe(meta):
    """``resnet50 (10 classes)`` from checkpoint or model metadata."""
    return f"{meta.get('architecture')} ({meta.get('num_classes')} classes)"


def check_compatible(saved_meta, model_meta, directory):
    """Raises CheckpointMismatchError when the checkpoint's model is not ``model_meta``'s."""
    for key in ("architecture", "num_classes"):
        if saved_meta.get(key) != model_meta.get(key):
            raise CheckpointMismatchError(
                f"The checkpoint in {directory} was written for {describe(saved_meta)}, but the "
                f"model is {describe(model_meta)}. Use a model_dir of its own for this model, or "
                f"build the model the checkpoint was trained with.")


class CheckpointManager:
    """Saves and restores training states under ``directory``.

    Args:
      directory: where step directories go (created by the chief).
      keep: how many of the most recent checkpoints to keep.
      keep_best: also keep the checkpoint with the best ``metrics["top1"]``.
      async_save: write in a background thread (the state is already a numpy copy).
      is_chief: only the chief writes; other workers' ``save`` does nothing.
    """

    def __init__(self, directory, keep=3, keep_best=True, async_save=True, is_chief=True):
        directory = os.fspath(directory)
        self.directory = directory if "://" in directory else os.path.abspath(directory)
        self.is_chief = is_chief
        policies = [checkpoint_managers.LatestN(max(1, int(keep)))]
        if keep_best:
            policies.append(checkpoint_managers.BestN(
                get_metric_fn=lambda metrics: metrics[BEST_METRIC], n=1,
                keep_checkpoints_without_metrics=False))
        options = ocp.CheckpointManagerOptions(
            preservation_policy=checkpoint_managers.AnyPreservationPolicy(policies),
            enable_async_checkpointing=async_save, create=is_chief, read_only=not is_chief,
            cleanup_tmp_directories=is_chief)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def all_steps(self):
        return list(self._manager.all_steps(read=True))

    def latest_step(self):
        self._manager.reload()
        return self._manager.latest_step()

    def best_step(self):
        """The kept step with the highest validation top-1, or None when none was evaluated."""
        scored = [(self.read_meta(s).get("metrics", {}).get(BEST_METRIC), s)
                  for s in self.all_steps()]
        scored = [(value, s) for value, s in scored if value is not None]
        return max(scored)[1] if scored else None

    def save(self, step, state, meta, metrics=None):
        """Writes ``state`` (nested dict of numpy arrays) and ``meta`` as checkpoint ``step``."""
        if not self.is_chief:
            return False
        meta = {**meta, "step": int(step), "format_version": FORMAT_VERSION,
                "metrics": {k: float(v) for k, v in (metrics or {}).items()}}
        args = ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
        return self._manager.save(int(step), args=args, metrics=meta["metrics"] or None,
                                  force=True)

    def read_meta(self, step):
        args = ocp.args.Composite(meta=ocp.args.JsonRestore())
        return dict(self._manager.restore(int(step), args=args).meta)

    def restore(self, step=None):
        """``(flat {path: array}, meta)`` of checkpoint ``step`` (default: the latest)."""
        step = self.latest_step() if step is None else int(step)
        if step is None:
            raise FileNotFoundError(f"No checkpoint in {self.directory}.")
        args = ocp.args.Composite(state=ocp.args.StandardRestore())
        state = self._manager.restore(step, args=args).state
        return flatten(state), self.read_meta(step)

    def wait(self):
        """Blocks until an asynchronous save has been written."""
        self._manager.wait_until_finished()

    def close(self):
        self._manager.close()
