"""Orbax checkpoints of a training state: the last K steps plus the best by validation top-1.

A checkpoint is a step directory holding ``state`` (a pytree of numpy arrays keyed by stable
variable paths, see ``tfcls.checkpoint.state``) and ``meta`` (JSON: architecture, class count,
class names, step, metrics). Orbax writes each step to a temporary directory and renames it when
complete, so a save interrupted half-way never replaces the last good checkpoint: unfinished
temporary directories are ignored on restore.
"""
import os
import re
import time

import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from tfcls.checkpoint.state import flatten

FORMAT_VERSION = 1
BEST_METRIC = "top1"


class CheckpointMismatchError(ValueError):
    """A checkpoint written for another model (architecture, class count or variables)."""


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (a full disk, a lost bucket): its partial files are
    removed, and the last complete checkpoint stays the one a resume takes."""


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
        self._writing = None  # the step being written in the background, until it is complete
        self._failure = None  # the CheckpointWriteError of a failed write, raised by every wait

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
        self.wait()  # a failure of the previous write is reported before this one starts
        self._writing = int(step)
        try:
            saved = self._manager.save(int(step), args=args, metrics=meta["metrics"] or None,
                                       force=True)
        except Exception as err:  # noqa: BLE001  (any write error: reported as one)
            self._write_failed(err)
        if not self._manager.is_saving_in_progress():
            self.wait()
        return saved

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
        """Blocks until an asynchronous save has been written; CheckpointWriteError if it
        failed."""
        if self._failure is not None:
            raise self._failure
        try:
            self._manager.wait_until_finished()
        except Exception as err:  # noqa: BLE001
            self._write_failed(err)
        self._writing = None

    def write_failed(self):
        """Without blocking: whether a write failed (``wait`` and ``save`` then raise it)."""
        if self._failure is None and self._writing is not None and (
                not self._manager.is_saving_in_progress()):
            try:
                self.wait()
            except CheckpointWriteError:
                pass
        return self._failure is not None

    def _write_failed(self, err):
        """Removes the partial files of the step being written; raises CheckpointWriteError."""
        step, self._writing = self._writing, None
        if step is not None:
            remove_partial(self.directory, step)
        self._failure = CheckpointWriteError(
            f"could not write checkpoint {step} to {self.directory}: {write_error_cause(err)}. "
            f"Its partial files were removed; the last complete checkpoint is step "
            f"{self.latest_step()}, which a resume takes. Free space (or fix the cause) and run "
            f"the same command again.")
        raise self._failure from err

    def close(self):
        self._manager.close()


def remove_partial(directory, step, settle_seconds=0.2, timeout=5.0):
    """Deletes what a failed write of ``step`` left (orbax's ``<step>.orbax-checkpoint-tmp*``).
    Writes of the failed save still in flight may recreate files for a moment, so it deletes
    until nothing has reappeared for ``settle_seconds``."""
    import tensorflow as tf  # gfile: the directory may be gs://
    pattern = os.path.join(directory, f"{int(step)}.orbax-checkpoint-tmp*")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        partial = tf.io.gfile.glob(pattern)
        for path in partial:
            try:
                tf.io.gfile.rmtree(path)
            except (tf.errors.OpError, OSError):
                pass  # still being written into: tried again below
        if not partial:
            time.sleep(settle_seconds)
            if not tf.io.gfile.glob(pattern):
                return


def write_error_cause(err):
    """The operating system's words for a failed write (``No space left on device``), from an
    OSError in the error's chain or tensorstore's ``os_error_code``, else the error's first
    line."""
    seen = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    text = str(err)
    code = re.search(r"os_error_code='(\d+)'", text)
    if code:
        return os.strerror(int(code.group(1)))
    return text.splitlines()[0][:300] if text else type(err).__name__
