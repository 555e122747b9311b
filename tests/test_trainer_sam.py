"""SAM (trainers/sam.py), the trainer extended by overriding ``compute_gradients`` alone: its
update equals SAM's formula computed with a plain GradientTape, it resumes bit for bit, and on
2 replicas it equals one device (the ascent uses the global gradient norm)."""
import numpy as np
import pytest
import tensorflow as tf

import trainers
from test_trainer_helpers import run_on_two_cpus, tiny_data, tiny_dataset, tiny_model

LR, RHO = 0.5, 0.3


def _config(**overrides):
    settings = dict(total_steps=2, global_batch_size=8, optimizer="sgd", momentum=0.0,
                    weight_decay=0.0, learning_rate=LR, schedule="constant", steps_per_loop=2,
                    label_smoothing=0.0, jit_compile=False)
    return trainers.TrainConfig.from_flat(**{**settings, **overrides})


def _reference_sam(model, batches):
    """SGD on SAM's gradient, step by step with a GradientTape: g at w, e = rho g / |g|,
    w <- w - lr * (gradient at w + e)."""
    def gradient():
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels, logits))
        return tape.gradient(loss, model.trainable_variables)

    for images, labels in batches:
        grads = gradient()
        norm = tf.linalg.global_norm(grads)
        ascent = [RHO * g / norm for g in grads]
        for w, e in zip(model.trainable_variables, ascent):
            w.assign_add(e)
        grads = gradient()
        for w, e, g in zip(model.trainable_variables, ascent, grads):
            w.assign(w - e - LR * g)
    return [w.numpy() for w in model.trainable_variables]


def test_sam_update_matches_the_formula():
    initial = tiny_model(norm=None).get_weights()

    def build():
        model = tiny_model(norm=None)
        model.set_weights(initial)
        return model

    sam = trainers.SAMTrainer(build, _config(), rho=RHO)
    sam.train(tiny_dataset(8))
    plain = trainers.ClassificationTrainer(build, _config())
    plain.train(tiny_dataset(8))
    images, labels = tiny_data(32)
    batches = [(images[k:k + 8], labels[k:k + 8]) for k in (0, 8)]
    expected = _reference_sam(build(), batches)
    for got, want in zip(sam.model.trainable_variables, expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    moved = max(float(np.abs(a.numpy() - b.numpy()).max())
                for a, b in zip(sam.model.trainable_variables, plain.model.trainable_variables))
    assert moved > 1e-3  # SAM's step is not plain SGD's
    with pytest.raises(ValueError, match="rho"):
        trainers.SAMTrainer(build, _config(), rho=0.0)


SCRIPT = """
    from test_trainer_helpers import tiny_dataset, tiny_model

    root = sys.argv[1]
    initial = tiny_model(norm=None).get_weights()

    def build(masks):
        noise = dict(drop_path_rate=0.3, drop_rate=0.3) if masks else {}
        model = tiny_model(norm=None, **noise)
        model.set_weights(initial)
        return model

    def sam(strategy, model_dir, masks=True):
        config = trainers.TrainConfig(
            total_steps=6, global_batch_size=8, grad_accum_steps=2, steps_per_loop=1,
            checkpoint_every=3, jit_compile=False, model_dir=model_dir, seed=3,
            optimizer=trainers.OptimizerConfig("adamw", clip_grad_norm=1.0),
            schedule=trainers.ScheduleConfig("cosine", learning_rate=0.01, warmup_steps=1))
        return trainers.SAMTrainer(lambda: build(masks), config, strategy, rho=0.1)

    def weights(t):
        return [v.numpy() for v in t.model.trainable_weights + t.optimizer.variables()]

    data = tiny_dataset(8, num_images=48)
    out = {}
    for name, strategy in (("one", tf.distribute.get_strategy()),
                           ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
        full = sam(strategy, f"{root}/{name}_full")
        full.train(data)
        sam(strategy, f"{root}/{name}_cut").train(data, num_steps=3)
        resumed = sam(strategy, f"{root}/{name}_cut")  # a fresh trainer: from the checkpoint
        resumed.train(data)
        out[name] = {"resumed_equal": all(np.array_equal(a, b) for a, b in
                                         zip(weights(full), weights(resumed))),
                    "steps": int(resumed.step.numpy())}
        plain = sam(strategy, None, masks=False)
        plain.train(data)
        out[name + "_plain"] = weights(plain)
    out["layout_gap"] = max(float(np.abs(a - b).max())
                            for a, b in zip(out.pop("one_plain"), out.pop("two_plain")))
    print("RESULT " + json.dumps(out))
"""


def test_sam_resumes_exactly_and_two_replicas_equal_one_device(tmp_path):
    """Resume with dropout and drop path on; 2 replicas against one device with them off (masks
    are keyed by replica). No batch norm (its statistics are per replica)."""
    out = run_on_two_cpus(SCRIPT, str(tmp_path))
    for name in ("one", "two"):
        assert out[name] == {"resumed_equal": True, "steps": 6}, (name, out[name])
    assert out["layout_gap"] < 1e-5, out  # each replica perturbs by the global gradient
