"""Checkpoints: stable keys, retention, atomicity, refusal of other models, NaN safety, resume."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tf_keras

import trainers
from tfcls.checkpoint import (CheckpointManager, CheckpointMismatchError, restore_for_inference,
                              snapshot, variable_paths)
from test_trainer_helpers import tiny_dataset, tiny_model

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def make_trainer(model_dir, model=None, trainer_cls=trainers.ClassificationTrainer, **overrides):
    settings = dict(total_steps=6, global_batch_size=8, optimizer="sgd", learning_rate=0.05,
                    schedule="cosine", steps_per_loop=2, checkpoint_every=2, jit_compile=False,
                    model_dir=str(model_dir), async_checkpoint=True,
                    weight_decay=0.0, label_smoothing=0.0)  # the formulas' plain SGD
    settings.update(overrides)
    return trainer_cls(model or (lambda: tiny_model()), trainers.TrainConfig.from_flat(**settings))


def test_variable_paths_do_not_depend_on_keras_name_counters():
    def build():
        model = tf_keras.Sequential([tf_keras.layers.Dense(3), tf_keras.layers.Dense(2)])
        model.build((None, 4))
        return model

    first, second = build(), build()
    assert first.variables[0].name != second.variables[0].name  # Keras uniquified the names
    paths_a, paths_b = variable_paths(first, "model"), variable_paths(second, "model")
    assert list(paths_a) == list(paths_b) and len(paths_a) == len(first.variables)
    tiny = variable_paths(tiny_model(), "model")
    assert "model/blocks/0/conv/kernel" in tiny and "model/head/fc/bias" in tiny


def test_manager_keeps_the_last_k_and_the_best(tmp_path):
    manager = CheckpointManager(tmp_path, keep=2, async_save=False)
    for step, top1 in [(1, 0.2), (2, 0.9), (3, 0.5), (4, None), (5, 0.4)]:
        state = {"w": np.full([2], step, np.float32)}
        manager.save(step, state, {"architecture": "a", "num_classes": 2},
                     None if top1 is None else {"top1": top1})
    manager.wait()
    assert sorted(manager.all_steps()) == [2, 4, 5]
    assert manager.best_step() == 2
    arrays, meta = manager.restore(2)
    np.testing.assert_array_equal(arrays["w"], [2, 2])
    assert meta["metrics"] == {"top1": 0.9} and meta["step"] == 2
    manager.close()


def test_an_interrupted_save_does_not_replace_the_last_good_one(tmp_path):
    manager = CheckpointManager(tmp_path, keep=3, async_save=False)
    manager.save(1, {"w": np.ones([3], np.float32)}, {"architecture": "a", "num_classes": 2})
    manager.wait()
    # What a save killed half-way leaves: orbax's temporary directory, never renamed to "2".
    partial = tmp_path / "2.orbax-checkpoint-tmp-1234"
    (partial / "state").mkdir(parents=True)
    (partial / "state" / "half_written").write_bytes(b"\0" * 10)
    manager.close()
    reader = CheckpointManager(tmp_path, is_chief=False)
    assert reader.latest_step() == 1
    arrays, _ = reader.restore()
    np.testing.assert_array_equal(arrays["w"], np.ones(3))
    reader.close()


def test_checkpoint_of_another_model_is_refused(tmp_path):
    make_trainer(tmp_path, total_steps=2).train(tiny_dataset(8))
    other = make_trainer(tmp_path, model=lambda: tiny_model(num_classes=5), total_steps=4)
    with pytest.raises(CheckpointMismatchError, match=r"tinynet_batch \(4 classes\).*"
                                                      r"tinynet_batch \(5 classes\)"):
        other.train(tiny_dataset(8, num_classes=5))
    with pytest.raises(CheckpointMismatchError, match="tinynet_nonorm"):
        restore_for_inference(tmp_path, tiny_model(norm=None))
    wider = tiny_model(width=16)  # same name and classes, other shapes: refused by shape
    with pytest.raises(CheckpointMismatchError, match="another shape"):
        restore_for_inference(tmp_path, wider)


class PoisonedTrainer(trainers.ClassificationTrainer):
    def compute_loss(self, images, labels, logits):
        loss = super().compute_loss(images, labels, logits)
        return loss * np.nan if self.poisoned else loss


def test_nan_stops_training_and_the_previous_checkpoint_restores(tmp_path):
    PoisonedTrainer.poisoned = False
    trainer = make_trainer(tmp_path, trainer_cls=PoisonedTrainer, total_steps=6)
    trainer.train(tiny_dataset(8), num_steps=4)
    good = [v.numpy().copy() for v in trainer.model.variables]
    trainer._loop_fn = None  # retrace with the poisoned loss
    PoisonedTrainer.poisoned = True
    with pytest.raises(trainers.NonFiniteLossError, match="step 5"):
        trainer.train(tiny_dataset(8))
    assert CheckpointManager(trainer.checkpoints.directory, is_chief=False).latest_step() == 4
    fresh = tiny_model()
    meta = restore_for_inference(tmp_path, fresh)
    assert meta["step"] == 4
    for a, b in zip(good, [v.numpy() for v in fresh.variables]):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(trainers.NonFiniteWeightsError):  # NaN weights are never written
        trainer.model.trainable_variables[0].assign(
            np.full(trainer.model.trainable_variables[0].shape, np.nan))
        trainer.checkpoints.save(5)


def test_restore_for_inference_picks_ema_or_raw_weights(tmp_path):
    trainer = make_trainer(tmp_path, ema_decay=0.5, total_steps=4)
    trainer.train(tiny_dataset(8))
    averages = dict(zip(trainer.ema_paths, [v.numpy() for v in trainer.ema.average_variables]))
    raw = {p: v.numpy() for p, v in variable_paths(trainer.model, "model").items()}
    for use_ema, expected in ((True, {**raw, **averages}), (False, raw)):
        model = tiny_model()
        restore_for_inference(tmp_path, model, use_ema=use_ema)
        for path, var in variable_paths(model, "model").items():
            np.testing.assert_allclose(var.numpy(), expected[path], rtol=1e-6, err_msg=path)
    assert any(not np.allclose(averages[p], raw[p]) for p in averages)


def test_in_process_resume_from_a_dataset_skips_the_seen_batches(tmp_path):
    """Deterministically shuffled dataset: resume == uninterrupted (the dataset is skipped)."""
    def data():  # re-created per run, as in a new process (shuffle seeds then replay)
        return tiny_dataset(8, num_images=32).unbatch().shuffle(32, seed=3).batch(8)

    initial = tiny_model().get_weights()

    def build():
        model = tiny_model()
        model.set_weights(initial)
        return model

    whole = make_trainer(tmp_path / "whole", build, total_steps=6, ema_decay=0.9)
    whole.train(data())
    first = make_trainer(tmp_path / "resumed", build, total_steps=6, ema_decay=0.9)
    first.train(data(), num_steps=3)  # the checkpoint is written at step 3
    second = make_trainer(tmp_path / "resumed", build, total_steps=6, ema_decay=0.9)
    second.train(data())
    assert second.history[0]["step"] == 4  # resumed at 3; loops end on checkpoint_every=2
    state_a = snapshot(whole.checkpoints.state)
    state_b = snapshot(second.checkpoints.state)
    assert state_a.keys() == state_b.keys()
    flat_a = {p: v.numpy() for p, v in whole.checkpoints.state.items()}
    for path, var in second.checkpoints.state.items():
        np.testing.assert_allclose(var.numpy(), flat_a[path], rtol=1e-5, atol=1e-6, err_msg=path)


RESUME_SCRIPT = textwrap.dedent("""
    import sys
    import tensorflow as tf
    tf.config.experimental.enable_op_determinism()
    sys.path.insert(0, {tests_dir!r})
    import numpy as np
    import trainers
    from test_trainer_helpers import tiny_data, tiny_model

    images, labels = tiny_data(64, size=8)

    def input_fn(start_step, context):
        # Per-epoch deterministic shuffling; cheap skipping to batch start_step.
        per_replica = context.get_per_replica_batch_size(8)
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
        ds = ds.shuffle(64, seed=7, reshuffle_each_iteration=True).repeat()
        return ds.batch(per_replica, drop_remainder=True).skip(start_step)

    for model_dir, num_steps in zip(sys.argv[1::2], sys.argv[2::2]):
        config = trainers.TrainConfig.from_flat(
            total_steps=8, global_batch_size=8, optimizer="adamw", learning_rate=0.01,
            weight_decay=0.05, warmup_steps=2, steps_per_loop=2, checkpoint_every=2, ema_decay=0.8,
            grad_accum_steps=2, jit_compile=False, model_dir=model_dir, seed=0)
        trainer = trainers.ClassificationTrainer(lambda: tiny_model(), config)
        trainer.train(input_fn, num_steps=int(num_steps))
        print("STEP", int(trainer.step.numpy()))
""")


def run_script(tmp_path, *runs):
    """Runs trainings ``(model_dir, num_steps), ...`` in one new process; their final steps."""
    script = tmp_path / "resume_script.py"
    script.write_text(RESUME_SCRIPT.format(tests_dir=TESTS_DIR))
    args = [str(a) for run in runs for a in run]
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return [int(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("STEP")]


def test_fresh_process_resume_equals_an_uninterrupted_run(tmp_path):
    # Process 1: an uninterrupted run of 8 steps, and a run stopped (checkpointed) at step 4.
    assert run_script(tmp_path, (tmp_path / "whole", 8), (tmp_path / "resumed", 4)) == [8, 4]
    # Process 2: resumes the stopped run at step 4 and trains to 8.
    assert run_script(tmp_path, (tmp_path / "resumed", 100)) == [8]
    whole = CheckpointManager(tmp_path / "whole" / "checkpoints", is_chief=False).restore(8)[0]
    resumed = CheckpointManager(tmp_path / "resumed" / "checkpoints", is_chief=False).restore(8)[0]
    assert whole.keys() == resumed.keys()
    assert any(k.startswith("ema/") for k in whole)
    assert any(k.startswith("optimizer/") for k in whole)
    for key in whole:
        np.testing.assert_array_equal(whole[key], resumed[key], err_msg=key)


def test_registry_model_round_trip_and_refusal(tmp_path):
    import tfcls
    build = lambda: tfcls.create_model("resnet18", num_classes=4, input_size=32)  # noqa: E731
    trainer = make_trainer(tmp_path, model=build, total_steps=1, global_batch_size=4,
                           ema_decay=0.9)
    trainer.train(tiny_dataset(4, size=32))
    fresh = build()
    meta = restore_for_inference(tmp_path, fresh, use_ema=False)
    assert meta["architecture"] == "resnet18" and meta["num_classes"] == 4
    for a, b in zip(trainer.model.variables, fresh.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(CheckpointMismatchError, match=r"resnet18 \(4 classes\).*resnet34"):
        restore_for_inference(tmp_path, tfcls.create_model("resnet34", num_classes=4,
                                                           input_size=32))
