"""``TrainConfig``: every setting of a training run, as a plain dataclass with defaults.

The command-line layer (``launch/``) maps its flags one to one onto these fields.
"""
import dataclasses
from typing import Optional, Sequence

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
NAN_POLICIES = ("raise", "skip")
DROP_PATH_SCHEDULES = ("constant", "linear")


@dataclasses.dataclass
class TrainConfig:
    """Settings of one training run.

    Steps count optimizer updates; one update consumes one global batch (``global_batch_size``
    images over all replicas, split into ``grad_accum_steps`` micro-batches per replica).

    The defaults are a from-scratch recipe that holds up on small and medium data sets (AdamW
    2e-3 with decoupled weight decay 0.05, cosine decay, label smoothing 0.1; the command line
    adds a 5% warmup); the published ImageNet recipes are the flag files in ``configs/``.
    """
    total_steps: int = 1000
    """Optimizer updates to train for."""
    global_batch_size: int = 128
    """Images per update, over all replicas and micro-batches."""
    optimizer: str = "adamw"
    """sgd | adamw | rmsprop | lamb | lion (``tfcls.optim.create_optimizer``)."""
    learning_rate: float = 2e-3
    """Peak learning rate (reached after warmup)."""
    lr_schedule: str = "cosine"
    """cosine | step | exponential | constant (``tfcls.optim.create_lr_schedule``)."""
    warmup_steps: int = 0
    """Linear warmup from ``warmup_init_lr`` to ``learning_rate`` over these steps."""
    warmup_init_lr: float = 0.0
    min_lr: float = 0.0
    """Floor of the decaying schedules."""
    decay_steps: Optional[int] = None
    """Period of the step/exponential schedules."""
    decay_rate: float = 0.1
    """Factor of the step/exponential schedules."""
    lr_boundaries: Optional[Sequence[int]] = None
    """Steps where the step schedule multiplies the rate by ``decay_rate``."""
    weight_decay: float = 0.05
    """Decoupled weight decay; norm parameters and biases (rank <= 1) are not decayed."""
    momentum: float = 0.9
    nesterov: bool = False
    beta_1: float = 0.9
    beta_2: Optional[float] = None
    """None: 0.999 for adamw/lamb, 0.99 for lion."""
    epsilon: Optional[float] = None
    """Optimizer epsilon (None: the optimizer's default; RMSprop uses the TF-style 1e-3)."""
    rho: float = 0.9
    clip_grad_norm: Optional[float] = None
    """Clip the all-reduced gradients to this global norm."""
    label_smoothing: float = 0.1
    ema_decay: float = 0.0
    """Exponential moving average of the weights (e.g. 0.9999); 0 turns it off."""
    ema_warmup: bool = False
    """EMA decay ramps as min(decay, (1 + step) / (10 + step)) (Model Garden/timm warmup)."""
    grad_accum_steps: int = 1
    """Micro-batches per update; batch norm then sees micro-batch statistics."""
    drop_path_rate: Optional[float] = None
    """Stochastic-depth rate of the deepest block, linear in depth; None keeps the model's own."""
    drop_path_schedule: str = "constant"
    """constant, or linear: ramp from 0 to the full rate over training (ScheduledDropPath)."""
    precision: str = "float32"
    """float32 | mixed_float16 (dynamic loss scaling) | mixed_bfloat16."""
    jit_compile: Optional[bool] = None
    """XLA-compile the per-replica forward/backward; None: on for GPU/TPU, off on CPU."""
    steps_per_loop: int = 100
    """Steps run inside one tf.function call; metrics are logged once per loop."""
    model_dir: Optional[str] = None
    """Checkpoints go here; training resumes from the latest one it holds. None: no checkpoints."""
    keep_checkpoints: int = 3
    """How many recent checkpoints to keep (the best by validation top-1 is kept as well)."""
    checkpoint_every: int = 1000
    """Steps between checkpoints (rounded up to a loop boundary); the last step is always saved."""
    async_checkpoint: bool = True
    """Write checkpoints in a background thread."""
    eval_every: int = 0
    """Steps between evaluations of the validation data; 0: only at the end."""
    seed: Optional[int] = None
    """If set, the trainer seeds Python's, numpy's and TF's global generators with it (weight
    init, dropout, drop-path); None leaves the caller's generators alone."""
    deterministic: bool = False
    """Turn on TF op determinism (process-wide): bit-exact resume on GPU needs it."""
    nan_policy: str = "raise"
    """raise: stop at a non-finite loss, naming the step; skip: drop that update and go on."""

    def validate(self):
        """Raises ValueError naming a field that has an impossible value."""
        _check(self.total_steps > 0, "total_steps", self.total_steps, "a positive integer")
        _check(self.global_batch_size > 0, "global_batch_size", self.global_batch_size,
               "a positive integer")
        _check(self.grad_accum_steps >= 1, "grad_accum_steps", self.grad_accum_steps, ">= 1")
        _check(self.steps_per_loop >= 1, "steps_per_loop", self.steps_per_loop, ">= 1")
        _check(self.precision in PRECISIONS, "precision", self.precision, f"one of {PRECISIONS}")
        _check(self.nan_policy in NAN_POLICIES, "nan_policy", self.nan_policy,
               f"one of {NAN_POLICIES}")
        _check(self.drop_path_schedule in DROP_PATH_SCHEDULES, "drop_path_schedule",
               self.drop_path_schedule, f"one of {DROP_PATH_SCHEDULES}")
        _check(0.0 <= self.ema_decay < 1.0, "ema_decay", self.ema_decay, "in [0, 1)")
        _check(0.0 <= self.label_smoothing < 1.0, "label_smoothing", self.label_smoothing,
               "in [0, 1)")
        _check(self.drop_path_rate is None or 0.0 <= self.drop_path_rate < 1.0,
               "drop_path_rate", self.drop_path_rate, "in [0, 1) or None")
        _check(self.keep_checkpoints >= 1, "keep_checkpoints", self.keep_checkpoints, ">= 1")
        _check(self.checkpoint_every >= 1, "checkpoint_every", self.checkpoint_every, ">= 1")
        _check(self.eval_every >= 0, "eval_every", self.eval_every, ">= 0")
        return self


def _check(ok, field, value, expected):
    if not ok:
        raise ValueError(f"TrainConfig.{field} must be {expected}, got {value!r}.")
