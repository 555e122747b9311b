"""What the command-line tools share: one-line errors, the run record, models for inference."""
import json
import os
import sys
import threading
import warnings

from absl import logging

import tfcls
import tfcls.convert
from tfcls.checkpoint import restore_for_inference

RUN_FILE = "run.json"


class UserError(Exception):
    """A mistake in the command line or the data: printed as one line, exit status 2."""


# Errors that mean "the user asked for something impossible", raised while setting up a run.
SETUP_ERRORS = (UserError, ValueError, FileNotFoundError, NotADirectoryError,
                tfcls.convert.PretrainedUnavailableError)


def check_writable_dir(path, what):
    """Creates ``path`` if needed and checks a file can be written there, before any long work;
    a UserError naming ``what`` otherwise."""
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".tfcls_write_check")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as err:
        raise UserError(f"cannot write the {what} to {path}: {err.strerror or err}. Choose a "
                        f"writable location.") from None


def fail(message, status=2):
    """Prints ``error: message`` to stderr and exits with ``status`` (no traceback)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def run_tool(main):
    """``absl.app.run(main)`` with flag errors (unknown flag, bad value, missing flag file) as
    one ``error:`` line and status 2, like every other user mistake; --help and its kin exit 0
    (absl's exit 1 after printing the help would read as a failure)."""
    from absl import app, flags

    def parse(argv):
        try:
            return flags.FLAGS(argv)
        except flags.Error as err:
            message = str(err).removeprefix("ERROR:: ")  # absl's own prefix on flag files
            fail(f"{message} (--helpfull lists the flags).")
        except SystemExit as done:  # only absl's help flags exit while flags are parsed
            sys.exit(0 if done.code == 1 else done.code)

    app.run(main, flags_parser=parse)


def check_flag_spelled_once(argv, names):
    """Refuses two spellings of one flag (e.g. --model and --model_name) given on the command
    line with different values; a flag file's value may be overridden as usual."""
    values = {}
    for arg in argv[1:]:
        for name in names:
            if arg.startswith(f"--{name}="):
                values[arg] = name
    distinct = {a.split("=", 1)[1] for a in values}
    if len(distinct) > 1:
        raise UserError(f"{' and '.join(sorted(values))} disagree: give the model once.")


def quiet_logs():
    """The libraries' logs off (TensorFlow's, orbax's: a failed checkpoint write is one
    ``error:`` line from the tool, not orbax's tracebacks) unless ``--verbosity`` asks for them;
    the tools print their own lines."""
    import launch
    if not launch.ASKS_FOR_LOGS:
        logging.set_verbosity(logging.FATAL)
    if not isinstance(sys.stderr, ClosedLoopTracebackFilter):
        sys.stderr = ClosedLoopTracebackFilter(sys.stderr)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # tfcls.data's warning about skipped files: the tools print their own line for it
    warnings.filterwarnings("ignore", message="Skipped .* non-image or corrupt file",
                            category=UserWarning)


class ClosedLoopTracebackFilter:
    """``sys.stderr`` less the tracebacks of tensorstore's callbacks into the closed asyncio
    loop of an orbax write that already failed (hundreds of ``RuntimeError: Event loop is
    closed`` after a full disk; the failure itself is reported as one line). Python prints them
    line by line from several threads at once, so lines are assembled per thread; a traceback
    whose first frame is ``call_soon_threadsafe`` is dropped through its last line."""

    FIRST_FRAME = "in call_soon_threadsafe"
    LAST_LINE = "RuntimeError: Event loop is closed"

    def __init__(self, stream):
        self.stream = stream
        self._pending = {}   # thread id -> text of its unfinished line
        self._state = {}     # thread id -> "header" (a Traceback line held back) or "dropping"

    def write(self, text):
        thread = threading.get_ident()
        text = self._pending.pop(thread, "") + text
        *lines, rest = text.split("\n")
        if rest:
            self._pending[thread] = rest
        for line in lines:
            self._line(thread, line)
        return len(text)

    def _line(self, thread, line):
        state = self._state.get(thread)
        if state == "dropping":
            if line.strip() == self.LAST_LINE:
                del self._state[thread]
            return
        if state == "header":
            del self._state[thread]
            if self.FIRST_FRAME in line:
                self._state[thread] = "dropping"
                return
            self.stream.write("Traceback (most recent call last):\n")
        if line == "Traceback (most recent call last):":
            self._state[thread] = "header"
            return
        self.stream.write(line + "\n")

    def flush(self):
        thread = threading.get_ident()
        if thread in self._pending and thread not in self._state:  # a partial line, as written
            self.stream.write(self._pending.pop(thread))
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def save_run(model_dir, model, class_names, model_name, data):
    """Records what inference tools need: the model to rebuild and the data split it was
    trained on (``data``: data_dir, val_split, seed), in ``model_dir/run.json``."""
    record = {"model": model_name, "architecture": model.pretrained_cfg["architecture"],
              "data": data,
              "num_classes": model.num_classes, "class_names": list(class_names),
              "pretrained_cfg": {k: list(v) if isinstance(v, tuple) else v
                                 for k, v in model.pretrained_cfg.items()}}
    import tensorflow as tf  # gfile: model_dir may be gs://
    tf.io.gfile.makedirs(model_dir)
    with tf.io.gfile.GFile(os.path.join(model_dir, RUN_FILE), "w") as f:
        json.dump(record, f, indent=1)


def load_run(model_dir):
    """The run record of ``model_dir``; a clear error when it is not a training run."""
    if not model_dir:
        raise UserError("--model_dir is required: the directory of a training run.")
    import tensorflow as tf
    path = os.path.join(model_dir, RUN_FILE)
    if not tf.io.gfile.exists(path):
        raise UserError(f"{model_dir} holds no tfcls training run ({RUN_FILE} is missing); "
                        f"pass the --model_dir that launch.train wrote.")
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def load_trained_model(model_dir, checkpoint="latest", use_ema=True):
    """Rebuilds the model of a training run and loads its weights: ``(model, run_record)``."""
    run = load_run(model_dir)
    cfg = run["pretrained_cfg"]
    model = tfcls.create_model(run["architecture"], num_classes=run["num_classes"],
                               input_size=cfg["input_size"])
    model.pretrained_cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}
    try:
        meta = restore_for_inference(model_dir, model, use_ema=use_ema,
                                     step="best" if checkpoint == "best" else None)
    except FileNotFoundError as err:
        raise UserError(str(err)) from None
    run["checkpoint"] = {"step": meta.get("step"), "which": checkpoint,
                         "ema": bool(meta.get("used_ema"))}
    return model, run


def describe_checkpoint(run):
    """``checkpoint step 300 (latest, EMA weights)`` for the checkpoint a tool loaded."""
    ckpt = run["checkpoint"]
    return (f"checkpoint step {ckpt['step']} ({ckpt['which']}, "
            f"{'EMA' if ckpt['ema'] else 'raw'} weights)")


def preprocessing_args(model):
    """Normalization arguments of tfcls.data pipelines for ``model``."""
    cfg = model.pretrained_cfg
    return dict(mean=tuple(cfg["mean"]), std=tuple(cfg["std"]),
                channel_order=cfg.get("channel_order", "RGB"))
