"""Restoring a saved state into live variables, and loading a trained model for inference."""
import os

import numpy as np

from tfcls.checkpoint.manager import CheckpointManager, CheckpointMismatchError, check_compatible
from tfcls.checkpoint.state import variable_paths

CHECKPOINT_SUBDIR = "checkpoints"


def checkpoint_dir(model_dir):
    """Where a run under ``model_dir`` keeps its checkpoints."""
    return os.path.join(os.fspath(model_dir), CHECKPOINT_SUBDIR)


def model_metadata(model, class_names=None):
    """What a checkpoint records about its model, to refuse loading it into another one."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    num_classes = getattr(model, "num_classes", None)
    if num_classes is None:
        try:
            num_classes = int(model.output_shape[-1])
        except (AttributeError, TypeError, ValueError):
            num_classes = None
    meta = {"architecture": cfg.get("architecture", type(model).__name__),
            "num_classes": num_classes}
    if class_names is not None:
        meta["class_names"] = [str(c) for c in class_names]
    return meta


def assign_state(variables, arrays, directory, sources=None):
    """Assigns ``arrays[path]`` to every ``variables[path]``.

    ``sources`` optionally maps a variable path to the checkpoint key to read it from (e.g. the
    EMA copy of a weight). Missing keys or different shapes raise CheckpointMismatchError.
    """
    sources = sources or {}
    missing, wrong = [], []
    for path, var in variables.items():
        key = sources.get(path, path)
        if key not in arrays:
            missing.append(key)
        elif tuple(np.shape(arrays[key])) != tuple(var.shape):
            wrong.append(f"{path}: checkpoint {np.shape(arrays[key])} vs model {tuple(var.shape)}")
    if missing or wrong:
        details = "; ".join(wrong[:3] + [f"missing {k}" for k in missing[:3]])
        parts = sorted({k.split("/")[0] for k in missing} | {w.split("/")[0] for w in wrong})
        what = {"model": "the model's weights", "optimizer": "the optimizer's slots",
                "ema": "the EMA weights", "trainer": "the trainer's counters"}
        raise CheckpointMismatchError(
            f"The checkpoint in {directory} does not fit: {len(missing)} variable(s) missing and "
            f"{len(wrong)} of another shape, in {', '.join(what.get(p, p) for p in parts)} "
            f"({details}). It was written for another architecture or training setup; use a "
            f"model_dir of its own for this one.")
    for path, var in variables.items():
        var.assign(np.asarray(arrays[sources.get(path, path)]).astype(var.dtype.as_numpy_dtype))


def restore_for_inference(model_dir, model, use_ema=True, step=None):
    """Loads the weights of a training run into ``model`` (already built) for evaluation/export.

    Args:
      model_dir: the training run's directory.
      model: a built model of the same architecture and class count.
      use_ema: use the exponential moving average of the weights when the run kept one.
      step: checkpoint step; None for the latest, ``"best"`` for the best validation top-1.

    Returns:
      The checkpoint's metadata (architecture, num_classes, class_names if saved, step, metrics)
      and ``used_ema``: whether the EMA weights were loaded.
    """
    directory = checkpoint_dir(model_dir)
    manager = CheckpointManager(directory, is_chief=False)
    try:
        if step == "best":
            step = manager.best_step()
            if step is None:
                raise FileNotFoundError(f"No evaluated checkpoint in {directory} to pick the best "
                                        f"from; pass step=None for the latest.")
        if (step if step is not None else manager.latest_step()) is None:
            raise FileNotFoundError(f"No checkpoint in {directory}: train a model there first.")
        arrays, meta = manager.restore(step)
    finally:
        manager.close()
    check_compatible(meta, model_metadata(model), directory)
    variables = variable_paths(model, "model")
    sources = {}
    if use_ema:
        for path in variables:
            ema_key = "ema" + path[len("model"):]
            if ema_key in arrays:
                sources[path] = ema_key
    assign_state(variables, arrays, directory, sources)
    return {**meta, "used_ema": bool(sources)}
