"""A 2-replica MirroredStrategy (2 logical CPUs) gives the same training as one device.

Runs in a fresh subprocess, so that this MirroredStrategy uses TF's default (collective)
all-reduce, which a process may only set up once (tensorflow/tensorflow#62790), and so that its
checkpoint is restored by a process that did not write it.
"""
import os
import subprocess
import sys
import textwrap

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

SCRIPT = textwrap.dedent("""
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, {tests_dir!r})
    import numpy as np
    import trainers
    from tfcls.checkpoint import restore_for_inference
    from test_trainer_helpers import (PoisonedGradientsTrainer, smoothed_cross_entropy,
                                      tiny_data, tiny_dataset, tiny_model)

    initial = tiny_model(norm=None).get_weights()

    def build():
        model = tiny_model(norm=None)
        model.set_weights(initial)
        return model

    def run(strategy, model_dir):
        config = trainers.TrainConfig.from_flat(
            total_steps=3, global_batch_size=8, grad_accum_steps=2, optimizer="sgd",
            learning_rate=0.1, schedule="cosine", warmup_steps=1, weight_decay=0.01,
            clip_grad_norm=0.05, ema_decay=0.7, steps_per_loop=3, jit_compile=False,
            model_dir=model_dir)
        trainer = trainers.ClassificationTrainer(build, config, strategy)
        logs = trainer.train(tiny_dataset(8), tiny_dataset(8))
        weights = [v.numpy() for v in trainer.model.trainable_variables]
        averages = [v.numpy() for v in trainer.ema.average_variables]
        return trainer, logs, weights, averages

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert mirrored.num_replicas_in_sync == 2
    two, logs2, w2, a2 = run(mirrored, sys.argv[1] + "/mirrored")
    one, logs1, w1, a1 = run(tf.distribute.get_strategy(), sys.argv[1] + "/single")
    assert not np.allclose(w1[0], initial[0]), "did not train"
    print("MAXDIFF_WEIGHTS", max(float(np.max(np.abs(a - b))) for a, b in zip(w1, w2)))
    print("MAXDIFF_EMA", max(float(np.max(np.abs(a - b))) for a, b in zip(a1, a2)))
    print("LOSS", logs1["loss"], logs2["loss"])
    print("VAL", logs1["val_top1"], logs2["val_top1"], logs1["val_loss"], logs2["val_loss"])
    try:  # a model built outside the scope cannot be mirrored: a clear error
        trainers.ClassificationTrainer(tiny_model(), trainers.TrainConfig(global_batch_size=8),
                                       mirrored)
        print("OUTSIDE_SCOPE accepted")
    except ValueError as err:
        print("OUTSIDE_SCOPE", "strategy.scope()" in str(err))
    restored = tiny_model(norm=None)
    restore_for_inference(sys.argv[1] + "/mirrored", restored)
    print("MAXDIFF_RESTORED", max(float(np.max(np.abs(v.numpy() - a)))
                                  for v, a in zip(restored.trainable_variables, a2)))

    # No clipping (a binding clip would hide a mis-scaled gradient), label smoothing on.
    def run_smoothed(strategy):
        config = trainers.TrainConfig.from_flat(
            total_steps=2, global_batch_size=8, optimizer="sgd", learning_rate=0.5,
            schedule="constant", label_smoothing=0.2, steps_per_loop=1, jit_compile=False)
        trainer = trainers.ClassificationTrainer(build, config, strategy)
        trainer.train(tiny_dataset(8))
        return trainer.history[0]["loss"], [v.numpy() for v in trainer.model.trainable_variables]
    images, labels = (a[:8] for a in tiny_data(32))  # the first batch of tiny_dataset(8)
    expected = smoothed_cross_entropy(build()(images).numpy(), labels, 0.2)
    loss2, w2 = run_smoothed(mirrored)
    loss1, w1 = run_smoothed(tf.distribute.get_strategy())
    print("SMOOTHED_LOSS", loss1, loss2, expected)
    print("MAXDIFF_UNCLIPPED", max(float(np.max(np.abs(a - b))) for a, b in zip(w1, w2)))
    print("MOVED", max(float(np.max(np.abs(a - b))) for a, b in zip(w1, initial)))

    poisoned = PoisonedGradientsTrainer(build, trainers.TrainConfig.from_flat(
        total_steps=6, global_batch_size=8, optimizer="sgd", learning_rate=0.1, steps_per_loop=2,
        jit_compile=False), mirrored)
    try:
        poisoned.train(tiny_dataset(8))
        print("POISONED trained")
    except trainers.NonFiniteLossError as err:
        finite = all(np.isfinite(v.numpy()).all() for v in poisoned.model.trainable_variables)
        print("POISONED", "gradients" in str(err) and "step 3" in str(err) and finite)
""")


def test_two_replica_mirrored_equals_one_device(tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(SCRIPT.format(tests_dir=TESTS_DIR))
    result = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert float(out["MAXDIFF_WEIGHTS"]) < 1e-5, out
    assert float(out["MAXDIFF_EMA"]) < 1e-5, out
    assert float(out["MAXDIFF_RESTORED"]) < 1e-6, out
    assert out["OUTSIDE_SCOPE"] == "True", out
    loss_one, loss_two = map(float, out["LOSS"].split())
    assert abs(loss_one - loss_two) < 1e-5
    top1_one, top1_two, val_one, val_two = map(float, out["VAL"].split())
    assert top1_one == top1_two and abs(val_one - val_two) < 1e-5
    # Unclipped, label-smoothed: same update on 2 replicas (loss over the global batch) and the
    # reported loss is numpy's smoothed cross-entropy of the initial weights on the first batch.
    one, two, expected = map(float, out["SMOOTHED_LOSS"].split())
    assert abs(one - expected) < 1e-5 and abs(two - expected) < 1e-5, out
    assert float(out["MAXDIFF_UNCLIPPED"]) < 1e-6 and float(out["MOVED"]) > 1e-3, out
    # NaN gradients on one replica only: caught after the all-reduce, naming the step.
    assert out["POISONED"] == "True", out
