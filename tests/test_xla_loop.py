"""The update step compiles under XLA (what a TPU does with every step) and matches the
uncompiled run: replica step with micro-batch accumulation, dropout and drop-path masks, the
(one-device) all-reduce, gradient clipping, the AdamW update, the EMA and the linear drop-path
schedule, for the classification and the distillation trainers, on one device (where the
all-reduce is the identity). What this machine cannot show: XLA's CPU backend runs compiled
programs on the first CPU device only, so on logical CPUs a MirroredStrategy with a compiled
replica step fails to place replica 1's variables (``tfvariable_on_a_different_device``); on GPUs
and TPUs each replica compiles on its own device."""
import numpy as np
import pytest
import tensorflow as tf

import trainers
from test_trainer_helpers import tiny_data, tiny_model

STEPS, BATCH = 4, 8


def _config(**overrides):
    settings = dict(total_steps=6, global_batch_size=BATCH, grad_accum_steps=2,
                    optimizer="adamw", learning_rate=0.01, warmup_steps=2, clip_grad_norm=1.0,
                    label_smoothing=0.1, ema_decay=0.9, drop_path_schedule="linear",
                    jit_compile=False, seed=1)
    return trainers.TrainConfig.from_flat(**{**settings, **overrides})


def _student():
    return tiny_model(drop_path_rate=0.3, drop_rate=0.2)


TRAINERS = {
    "classification": lambda: trainers.ClassificationTrainer(_student, _config()),
    "distillation": lambda: trainers.DistillationTrainer(
        _student, tiny_model(width=16), _config(), alpha=0.5, temperature=2.0),
}


def _run(make, jit_compile):
    trainer = make()
    update = tf.function(trainer.update, jit_compile=jit_compile)
    images, labels = tiny_data(STEPS * BATCH, 8)
    for k in range(STEPS):
        batch = slice(k * BATCH, (k + 1) * BATCH)
        update(tf.constant(images[batch]), tf.constant(labels[batch]))
    state = (trainer.model.weights + trainer.ema.average_variables
             + trainer.optimizer.variables())
    return trainer, [v.numpy() for v in state], update


@pytest.mark.parametrize("kind", sorted(TRAINERS))
def test_the_whole_update_compiles_with_xla_and_matches_the_uncompiled_run(kind):
    plain, expected, _ = _run(TRAINERS[kind], jit_compile=False)
    compiled, got, update = _run(TRAINERS[kind], jit_compile=True)
    assert int(compiled.step.numpy()) == STEPS == int(plain.step.numpy())
    assert len(expected) == len(got)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-5)
    rate = float(compiled.drop_path_layers[-1].rate.numpy())
    assert 0 < rate < 0.3  # the schedule ran (linear ramp, step 4 of 6)
    # the whole step is one XLA program: XLA lowers all of it to HLO (it raises on any op it
    # cannot compile)
    images, labels = tiny_data(BATCH, 8)
    hlo = update.experimental_get_compiler_ir(tf.constant(images), tf.constant(labels))("hlo")
    assert "HloModule" in hlo and "while" in hlo  # the micro-batch loop is in it
