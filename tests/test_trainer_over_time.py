"""What the trainer does over a run: when it saves and evaluates, what it reports, how it resumes,
and the EMA against numpy when several steps run per loop."""
import random
import time

import numpy as np
import pytest
import tensorflow as tf

import trainers
from launch.reporting import progress_line
from test_trainer_helpers import tiny_dataset, tiny_model
from tfcls.checkpoint import CheckpointManager, CheckpointMismatchError


def make_trainer(trainer_cls=trainers.ClassificationTrainer, model=None, **overrides):
    settings = dict(total_steps=12, global_batch_size=8, optimizer="sgd", learning_rate=0.05,
                    schedule="constant", steps_per_loop=3, jit_compile=False,
                    weight_decay=0.0, label_smoothing=0.0)  # the formulas' plain SGD
    settings.update(overrides)
    return trainer_cls(model or (lambda: tiny_model()), trainers.TrainConfig.from_flat(**settings))


class EvalCountingTrainer(trainers.ClassificationTrainer):
    def on_eval_end(self, step, logs):
        self.evaluated_at = getattr(self, "evaluated_at", []) + [step]


def test_checkpoints_and_evaluations_at_every_boundary_within_loops(tmp_path):
    """steps_per_loop=3 with checkpoint_every=eval_every=2: loops end on the boundaries."""
    trainer = make_trainer(EvalCountingTrainer, model_dir=str(tmp_path), checkpoint_every=2,
                           eval_every=2, keep_checkpoints=10, async_checkpoint=False)
    trainer.train(tiny_dataset(8), tiny_dataset(8))
    assert trainer.evaluated_at == [2, 4, 6, 8, 10, 12]
    assert CheckpointManager(str(tmp_path / "checkpoints"), is_chief=False).all_steps() == \
        [2, 4, 6, 8, 10, 12]
    assert max(logs["step"] - prev for prev, logs in
               zip([0] + [h["step"] for h in trainer.history], trainer.history)) <= 3


def test_intervals_longer_than_a_loop_still_land_on_their_multiples(tmp_path):
    trainer = make_trainer(EvalCountingTrainer, model_dir=str(tmp_path), steps_per_loop=4,
                           checkpoint_every=5, eval_every=6, keep_checkpoints=10,
                           async_checkpoint=False)
    trainer.train(tiny_dataset(8), tiny_dataset(8))
    assert trainer.evaluated_at == [6, 12]
    # every evaluation is saved too (for the best checkpoint), plus the multiples of 5
    assert CheckpointManager(str(tmp_path / "checkpoints"), is_chief=False).all_steps() == \
        [5, 6, 10, 12]


class WeightRecordingTrainer(trainers.ClassificationTrainer):
    def on_loop_end(self, step, logs):
        self.raw = getattr(self, "raw", []) + [[v.numpy().copy()
                                                for v in self.ema.model_variables]]


def test_ema_with_several_steps_per_loop_follows_numpy():
    """The EMA updates after every step, not once per loop: the averages of a run with 3 steps per
    loop equal numpy's EMA over the per-step weights of the same run made one step per loop."""
    initial = tiny_model().get_weights()

    def build():
        model = tiny_model()
        model.set_weights(initial)
        return model

    settings = dict(total_steps=6, ema_decay=0.8, ema_warmup=False, learning_rate=0.2)
    per_step = make_trainer(WeightRecordingTrainer, build, steps_per_loop=1, **settings)
    per_step.train(tiny_dataset(8))
    expected = [v.astype(np.float64) for v in initial_ema_values(per_step, initial)]
    for weights in per_step.raw:
        expected = [0.8 * e + 0.2 * w for e, w in zip(expected, weights)]
    looped = make_trainer(model=build, steps_per_loop=3, **settings)
    looped.train(tiny_dataset(8))
    for average, value in zip(looped.ema.average_variables, expected):
        np.testing.assert_allclose(average.numpy(), value, rtol=1e-5, atol=1e-6)


def initial_ema_values(trainer, initial):
    """The EMA starts from the initial weights (trainable and batch-norm statistics)."""
    model = tiny_model()
    model.set_weights(initial)
    by_name = {v.name: v.numpy() for v in model.variables}
    return [by_name[v.name] for v in trainer.ema.model_variables]


def test_progress_line_reports_the_rate_its_last_update_used():
    trainer = make_trainer(total_steps=4, steps_per_loop=2, schedule="cosine",
                           learning_rate=0.1)
    trainer.train(tiny_dataset(8))
    cosine = lambda step: 0.05 * (1 + np.cos(np.pi * step / 4))  # noqa: E731
    assert [h["lr"] for h in trainer.history] == pytest.approx([cosine(1), cosine(3)], abs=1e-7)
    assert trainer.history[-1]["lr"] > 0


class SlowToTraceTrainer(trainers.ClassificationTrainer):
    """Tracing its step takes 3 s longer (Python in ``train_step`` runs only while tracing)."""

    def train_step(self, images, labels, step):
        time.sleep(3.0)
        return super().train_step(images, labels, step)


def test_throughput_counts_from_the_first_finished_step():
    """The first loop's img/s and ETA leave out tracing: its rate is the next loop's order of
    magnitude, not 20 steps over 3 s of start-up."""
    trainer = make_trainer(trainer_cls=SlowToTraceTrainer, total_steps=40, steps_per_loop=20)
    trainer.train(tiny_dataset(8))
    first, second = (logs["steps_per_sec"] for logs in trainer.history)
    assert first > 20 / 3.0 * 3 and first > second / 5, (first, second)
    assert "img/s ETA 0:00:0" in progress_line(20, 40, trainer.history[0])


def test_float16_loss_scale_skips_are_counted_and_advance_the_step():
    """A float16 overflow (gradients of a finite loss non-finite) is skipped by the loss-scale
    optimizer; the trainer counts it and does not stop, as for any skipped update."""
    trainer = make_trainer(total_steps=3, steps_per_loop=3, precision="mixed_float16")
    trainer.optimizer._loss_scale._current_loss_scale.assign(2.0 ** 120)  # overflows float16
    logs = trainer.train(tiny_dataset(8))
    assert logs["step"] == 3 and logs["skipped_updates"] >= 1
    assert int(trainer.optimizer.iterations.numpy()) == 3
    assert float(trainer.optimizer.loss_scale) < 2.0 ** 120


def test_resume_with_another_optimizer_or_ema_names_the_difference(tmp_path):
    make_trainer(model_dir=str(tmp_path), total_steps=3).train(tiny_dataset(8))
    with pytest.raises(CheckpointMismatchError, match="optimizer sgd.*now adamw"):
        make_trainer(model_dir=str(tmp_path), total_steps=6, optimizer="adamw").train(
            tiny_dataset(8))
    with pytest.raises(CheckpointMismatchError, match="EMA off, now on"):
        make_trainer(model_dir=str(tmp_path), total_steps=6, ema_decay=0.9).train(
            tiny_dataset(8))


class ResumeRecordingTrainer(trainers.ClassificationTrainer):
    def on_resume(self, step):
        self.resumed_at = step


def test_resume_is_announced_and_a_finished_run_reports_its_metrics(tmp_path):
    first = make_trainer(model_dir=str(tmp_path), total_steps=6, async_checkpoint=False)
    first.train(tiny_dataset(8), num_steps=3)
    second = make_trainer(ResumeRecordingTrainer, model_dir=str(tmp_path), total_steps=6)
    final = second.train(tiny_dataset(8), tiny_dataset(8))
    assert second.resumed_at == 3 and "val_top1" in final
    again = make_trainer(ResumeRecordingTrainer, model_dir=str(tmp_path), total_steps=6)
    logs = again.train(tiny_dataset(8), tiny_dataset(8))
    assert again.resumed_at == 6 and logs["already_trained"]
    assert logs["val_top1"] == pytest.approx(final["val_top1"])
    assert logs["val_loss"] == pytest.approx(final["val_loss"])


def test_trainer_leaves_the_callers_generators_alone_unless_seeded():
    """seed=None leaves them alone; the default seed (0, as on the command line) and any other
    seed them. (Building a keras model draws from Python's generator, so the models are built
    first.)"""
    models = [tiny_model(), tiny_model()]
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.rand())
    random.seed(5)
    np.random.seed(5)
    make_trainer(model=models[0], total_steps=1, seed=None)
    assert (random.random(), np.random.rand()) == expected
    make_trainer(model=models[1], total_steps=1, seed=3)
    after_seed = (random.random(), np.random.rand())
    random.seed(3)
    np.random.seed(3)
    assert after_seed == (random.random(), np.random.rand())


def test_deterministic_turns_on_op_determinism(monkeypatch):
    calls = []
    monkeypatch.setattr(tf.config.experimental, "enable_op_determinism",
                        lambda: calls.append(True))
    make_trainer(total_steps=1)
    assert calls == []
    make_trainer(total_steps=1, deterministic=True)
    assert calls == [True]
