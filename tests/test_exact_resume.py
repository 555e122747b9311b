"""Exact resume with dropout and drop path on: masks are stateless functions of (seed, step,
replica, micro-batch, layer), so a run interrupted and resumed (in a fresh trainer, from its
checkpoint) is bit-identical to the uninterrupted run, on one device and on two replicas; and a
run resumed on another number of replicas (same global batch) trains on and says what changed.

Bit-identical: the trainable weights and the optimizer's state. Batch norm's moving statistics
are per-replica variables (sync-on-read) under MirroredStrategy; a checkpoint keeps their mean,
so after a 2-replica resume they agree to float32 rounding (<= 1e-6), not bit for bit; they are
used by evaluation only. One subprocess (two logical CPUs, op determinism on) runs every case."""
from test_trainer_helpers import run_on_two_cpus

SCRIPT = """
    from test_trainer_helpers import tiny_dataset, tiny_model

    root = sys.argv[1]

    def trainer(strategy, model_dir, total=6, grad_accum=2):
        config = trainers.TrainConfig.from_flat(
            total_steps=total, global_batch_size=8, grad_accum_steps=grad_accum, optimizer="adamw",
            learning_rate=0.01, schedule="cosine", warmup_steps=1, steps_per_loop=1,
            checkpoint_every=3, ema_decay=0.9, jit_compile=False, drop_path_schedule="linear",
            deterministic=True, model_dir=model_dir, seed=5)
        return trainers.ClassificationTrainer(
            lambda: tiny_model(drop_path_rate=0.5, drop_rate=0.5), config, strategy)

    def weights(t):
        return [v.numpy() for v in t.model.trainable_weights + t.optimizer.variables()]

    def same(a, b):
        return all(np.array_equal(x, y) for x, y in zip(a, b))

    def close_statistics(a, b):  # batch norm's moving statistics (see the module docstring)
        return max(float(np.abs(x.numpy() - y.numpy()).max())
                   for x, y in zip(a.model.non_trainable_weights, b.model.non_trainable_weights))

    one = tf.distribute.get_strategy()
    two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    data = tiny_dataset(8, num_images=48)
    out = {}
    for name, strategy in (("one", one), ("two", two)):
        full = trainer(strategy, f"{root}/{name}_full")
        full.train(data)
        first = trainer(strategy, f"{root}/{name}_cut")
        first.train(data, num_steps=3)
        second = trainer(strategy, f"{root}/{name}_cut")  # a fresh trainer: from the checkpoint
        second.train(data)
        other_seed = trainer(strategy, None)
        other_seed.config.seed = 6
        out[name] = {"resumed_equal": same(weights(full), weights(second)),
                    "steps": int(second.step.numpy()),
                    "statistics_close": close_statistics(full, second) < 1e-6}
        out[name + "_weights"] = weights(full)
    out["one_vs_two_equal"] = same(out.pop("one_weights"), out.pop("two_weights"))

    # trained on 2 replicas, resumed on 1 with the same global batch
    first = trainer(two, f"{root}/switch")
    first.train(data, num_steps=3)
    resumed = trainer(one, f"{root}/switch")
    logs = resumed.train(data)
    out["switch"] = {"steps": int(resumed.step.numpy()), "loss": logs["loss"],
                    "note": resumed.checkpoints.layout_change}
    print("RESULT " + json.dumps(out))
"""


def test_resume_is_bit_identical_with_masks_on_and_across_replica_counts(tmp_path):
    out = run_on_two_cpus(SCRIPT, str(tmp_path))
    for name in ("one", "two"):
        assert out[name] == {"resumed_equal": True, "steps": 6, "statistics_close": True}, (
            name, out[name])
    # masks are keyed by replica: one device and two replicas are different (valid) runs
    assert not out["one_vs_two_equal"]
    switch = out["switch"]
    assert switch["steps"] == 6 and switch["loss"] == switch["loss"]  # trained on, finite
    assert "trained on 2 replica(s) in 1 worker(s), 4 images per replica" in switch["note"]
    assert "this run has 1 in 1, 8 per replica" in switch["note"]


def test_noise_layers_are_stateless_inside_a_seed_scope_and_scale_survivors():
    import numpy as np
    import tensorflow as tf

    from tfcls.layers import DropPath, StatelessDropout, noise_seed

    x = tf.ones([64, 4, 4, 8])
    dropout, drop_path = StatelessDropout(0.25), DropPath(0.5)
    drop_path.build(x.shape)

    def masks(seed):
        with noise_seed(tf.constant(seed, tf.int64)):
            return dropout(x, training=True).numpy(), drop_path(x, training=True).numpy()

    first, again, other = masks([1, 2]), masks([1, 2]), masks([1, 3])
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    kept = first[0] != 0
    assert abs(kept.mean() - 0.75) < 0.03 and np.allclose(first[0][kept], 1 / 0.75)
    per_sample = first[1].reshape(64, -1)
    assert set(np.unique(per_sample)) <= {0.0, 2.0} and (per_sample == per_sample[:, :1]).all()
    np.testing.assert_array_equal(dropout(x, training=False), x)
    with noise_seed(tf.constant([1, 2], tf.int64)):  # two layers in one pass: their own masks
        a, b = dropout(x, training=True).numpy(), dropout(x, training=True).numpy()
    assert not np.array_equal(a, b) and np.array_equal(a, first[0])
