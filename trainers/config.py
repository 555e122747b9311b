"""``TrainConfig``: every setting of a training run, as plain dataclasses with defaults.

Each field carries its help text, its choices and its range check in ``metadata``; the command
line (``launch/flags.py``) generates its training flags from them, so a setting, its default and
its check are written once. The optimizer and the learning-rate schedule are sub-configs handed
whole to ``tfcls.optim.create_optimizer`` / ``create_lr_schedule``.

    TrainConfig(total_steps=10_000, optimizer=OptimizerConfig("sgd", nesterov=True),
                schedule=ScheduleConfig("cosine", learning_rate=0.1, warmup_steps=500))
    TrainConfig.from_flat(total_steps=10_000, optimizer="sgd", nesterov=True,
                          schedule="cosine", learning_rate=0.1, warmup_steps=500)  # the same
"""
import dataclasses
import math
from typing import Optional, Sequence

# Plain Python (no TensorFlow): the command line reads these before TensorFlow loads.
# tests/test_launch_defaults.py checks the names against tfcls.optim's.
OPTIMIZERS = ("sgd", "adamw", "rmsprop", "lamb", "lion")
SCHEDULES = ("cosine", "step", "exponential", "constant")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
NAN_POLICIES = ("raise", "skip")
DROP_PATH_SCHEDULES = ("constant", "linear")


class ConfigError(ValueError):
    """A setting with an impossible value; ``path`` names it (e.g. "optimizer.momentum")."""

    def __init__(self, path, value, expected):
        super().__init__(f"TrainConfig.{path} must be {expected}, got {value!r}.")
        self.path, self.value, self.expected = path, value, expected


def _optional(check):
    ok, expected = check
    return (lambda v: v is None or ok(v)), f"{expected} or None"


POSITIVE = (lambda v: v > 0, "a positive integer")
AT_LEAST_ONE = (lambda v: v >= 1, ">= 1")
NON_NEGATIVE = (lambda v: v >= 0, ">= 0")
POSITIVE_NUMBER = (lambda v: v > 0 and math.isfinite(v), "a positive, finite number")
FRACTION = (lambda v: 0.0 <= v < 1.0, "in [0, 1)")


def setting(default, help, *, choices=None, check=None, flag=""):
    """A config field: ``help`` and ``choices`` become the flag's, ``check`` is
    ``(predicate, "what it must be")``; ``flag`` is the flag's name ("" = the field's name,
    None = no flag: the launcher derives the value, or it is Python only)."""
    if choices is not None:
        check = (lambda v: v in choices, f"one of {', '.join(choices)}")
    return dataclasses.field(default=default, metadata=dict(
        help=help, choices=choices, check=check, flag=flag))


@dataclasses.dataclass
class OptimizerConfig:
    """The optimizer (``tfcls.optim.create_optimizer``)."""
    name: str = setting("adamw", "Optimizer.", choices=OPTIMIZERS, flag="optimizer")
    weight_decay: float = setting(0.05, "Decoupled weight decay (norms and biases excluded).",
                                  check=NON_NEGATIVE)
    momentum: float = setting(0.9, "SGD momentum / RMSprop momentum.", check=FRACTION)
    nesterov: bool = setting(False, "Nesterov momentum for SGD.")
    beta_1: float = setting(0.9, "First-moment decay of adamw/lamb/lion.", check=FRACTION)
    beta_2: Optional[float] = setting(None, "Second-moment decay (default: 0.999 for "
                                      "adamw/lamb, 0.99 for lion).", check=_optional(FRACTION))
    epsilon: Optional[float] = setting(None, "Optimizer epsilon (default: the optimizer's; "
                                       "RMSprop's is TF-style 1e-3, inside the square root).",
                                       check=_optional(POSITIVE_NUMBER))
    rho: float = setting(0.9, "RMSprop's decay of the squared-gradient average.", check=FRACTION)
    clip_grad_norm: Optional[float] = setting(
        None, "Clip the all-reduced gradients to this global norm.",
        check=_optional(POSITIVE_NUMBER))


@dataclasses.dataclass
class ScheduleConfig:
    """The learning-rate schedule (``tfcls.optim.create_lr_schedule``); it spans the run's
    ``total_steps``."""
    name: str = setting("cosine", "Learning-rate schedule after warmup.", choices=SCHEDULES,
                        flag="lr_schedule")
    learning_rate: float = setting(2e-3, "Peak learning rate (after warmup).",
                                   check=POSITIVE_NUMBER, flag="lr")
    warmup_steps: int = setting(0, "Linear warmup from warmup_init_lr to learning_rate over "
                                "these steps.", check=NON_NEGATIVE, flag=None)
    warmup_init_lr: float = setting(0.0, "Learning rate at the start of warmup.",
                                    check=NON_NEGATIVE)
    min_lr: float = setting(0.0, "Floor of the decaying schedules.", check=NON_NEGATIVE)
    decay_steps: Optional[int] = setting(None, "Period of the step/exponential schedules.",
                                         check=_optional(POSITIVE), flag=None)
    decay_rate: float = setting(0.1, "Factor of the step/exponential schedules.",
                                check=POSITIVE_NUMBER)
    boundaries: Optional[Sequence[int]] = setting(
        None, "Steps where the step schedule multiplies the rate by decay_rate.", flag=None)


@dataclasses.dataclass
class TrainConfig:
    """Settings of one training run.

    Steps count optimizer updates; one update consumes one global batch (``global_batch_size``
    images over all replicas, split into ``grad_accum_steps`` micro-batches per replica).

    The defaults are a from-scratch recipe that holds up on small and medium data sets (AdamW
    2e-3 with decoupled weight decay 0.05, cosine decay, label smoothing 0.1; the command line
    adds a 5% warmup); the published ImageNet recipes are the flag files in ``configs/``.
    """
    total_steps: int = setting(1000, "Optimizer updates to train for.", check=POSITIVE,
                               flag=None)
    global_batch_size: int = setting(128, "Global batch size (over all replicas and "
                                     "accumulation micro-batches).", check=POSITIVE,
                                     flag="batch_size")
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    label_smoothing: float = setting(0.1, "Label smoothing of the cross-entropy.", check=FRACTION)
    ema_decay: float = setting(0.0, "EMA of the weights (e.g. 0.9999); 0 turns it off. "
                               "Evaluation and export then use the EMA weights.", check=FRACTION)
    ema_warmup: bool = setting(False, "Ramp the EMA decay as min(decay, (1 + step) / (10 + "
                               "step)) (Model Garden/timm warmup).")
    grad_accum_steps: int = setting(1, "Micro-batches per update (batch norm sees micro-batch "
                                    "statistics).", check=AT_LEAST_ONE)
    drop_path_rate: Optional[float] = setting(
        None, "Stochastic depth of the deepest block, shared out over depth by the family's "
        "rule (default: the model's own).", check=_optional(FRACTION))
    drop_path_schedule: str = setting("constant", "constant, or linear: ramp from 0 to the full "
                                      "rate over training (ScheduledDropPath).",
                                      choices=DROP_PATH_SCHEDULES)
    precision: str = setting("float32", "Compute precision (mixed_float16: dynamic loss "
                             "scaling); logits and loss stay float32.", choices=PRECISIONS)
    jit_compile: Optional[bool] = setting(None, "XLA-compile the per-replica forward/backward: "
                                          "true, false, or auto (unset): on for GPU/TPU, off "
                                          "on CPU.")
    steps_per_loop: int = setting(100, "Steps run inside one tf.function call; metrics are "
                                  "logged once per loop.", check=AT_LEAST_ONE, flag=None)
    model_dir: Optional[str] = setting(None, "Checkpoints go here; training resumes from the "
                                       "latest one it holds. None: no checkpoints.", flag=None)
    keep_checkpoints: int = setting(3, "Recent checkpoints kept (plus the best by validation "
                                    "top-1).", check=AT_LEAST_ONE)
    checkpoint_every: int = setting(1000, "Steps between checkpoints (rounded up to a loop "
                                    "boundary); the last step is always saved.",
                                    check=AT_LEAST_ONE, flag=None)
    async_checkpoint: bool = setting(True, "Write checkpoints in a background thread.")
    eval_every: int = setting(0, "Steps between evaluations of the validation data; 0: only at "
                              "the end.", check=NON_NEGATIVE, flag=None)
    seed: Optional[int] = setting(0, "Seed of weight init, dropout and drop-path masks (and, on "
                                  "the command line, shuffling and augmentation); the trainer "
                                  "seeds Python's, numpy's and TF's global generators with it. "
                                  "None leaves them alone.")
    deterministic: bool = setting(False, "Turn on TensorFlow's op determinism (process-wide): "
                                  "needed for bit-exact resume on GPU; slower.")
    nan_policy: str = setting("raise", "At a non-finite loss or gradients: stop naming the step "
                              "(raise) or drop that update (skip).", choices=NAN_POLICIES)

    @classmethod
    def from_flat(cls, **settings):
        """A config from every setting by its own name: ``optimizer`` / ``schedule`` name the
        optimizer and the schedule, their other fields go by their names (``learning_rate``,
        ``momentum``, ...)."""
        unknown = set(settings) - set(FLAT_PATHS)
        if unknown:
            raise TypeError(f"Unknown TrainConfig setting(s) {sorted(unknown)}; the settings "
                            f"are {sorted(FLAT_PATHS)}.")
        nested = {}
        for key, value in settings.items():
            path = FLAT_PATHS[key]
            if len(path) == 1:
                nested[path[0]] = value
            else:
                nested.setdefault(path[0], {})[path[1]] = value
        for name, sub in list(nested.items()):
            if isinstance(sub, dict):
                nested[name] = SUB_CONFIGS[name](**sub)
        return cls(**nested)

    def validate(self):
        """Raises ConfigError naming the first field that has an impossible value."""
        for path, field in leaf_fields():
            check = field.metadata.get("check")
            value = self.get(path)
            if check is not None and not check[0](value):
                raise ConfigError(".".join(path), value, check[1])
        return self

    def get(self, path):
        """The value at ``path``, e.g. ``("optimizer", "momentum")``."""
        value = self
        for name in path:
            value = getattr(value, name)
        return value


SUB_CONFIGS = {"optimizer": OptimizerConfig, "schedule": ScheduleConfig}


def leaf_fields(cls=TrainConfig, prefix=()):
    """``[(path, dataclasses.Field)]`` of every setting, sub-configs walked, in field order."""
    out = []
    for field in dataclasses.fields(cls):
        if dataclasses.is_dataclass(field.type):
            out.extend(leaf_fields(field.type, prefix + (field.name,)))
        else:
            out.append((prefix + (field.name,), field))
    return out


def _flat_paths():
    """{flat name: path}: a sub-config's ``name`` goes by the sub-config's name."""
    paths = {}
    for path, _ in leaf_fields():
        key = path[0] if path[-1] == "name" else path[-1]
        assert key not in paths, f"two settings named {key}"
        paths[key] = path
    return paths


FLAT_PATHS = _flat_paths()
