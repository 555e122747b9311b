"""Trainer behaviour on one device: learning, accumulation, EMA, drop-path, precision, safety."""
import re

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import trainers
from test_trainer_helpers import PoisonedGradientsTrainer, tiny_data, tiny_dataset, tiny_model


def make_trainer(model=None, trainer_cls=trainers.ClassificationTrainer, **overrides):
    settings = dict(total_steps=10, global_batch_size=8, optimizer="sgd", learning_rate=0.05,
                    schedule="constant", steps_per_loop=5, jit_compile=False,
                    weight_decay=0.0, label_smoothing=0.0)  # the formulas' plain SGD
    settings.update(overrides)
    return trainer_cls(model or (lambda: tiny_model()), trainers.TrainConfig.from_flat(**settings))


def weights_of(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def test_loss_decreases_on_a_fixed_batch():
    batch = tiny_dataset(8, num_images=8).take(1).cache()
    trainer = make_trainer(total_steps=30, steps_per_loop=10, optimizer="adamw",
                           learning_rate=0.01)
    trainer.train(batch)
    losses = [logs["loss"] for logs in trainer.history]
    assert losses[-1] < 0.5 * losses[0], losses
    assert [logs["step"] for logs in trainer.history] == [10, 20, 30]
    assert all(logs["images_per_sec"] > 0 and np.isfinite(logs["lr"]) for logs in trainer.history)


def test_grad_accumulation_equals_one_big_batch():
    """4 micro-batches of 4 == one batch of 16, on a model without batch statistics."""
    reference = tiny_model(norm=None)
    initial = reference.get_weights()

    def build():
        model = tiny_model(norm=None)
        model.set_weights(initial)
        return model

    data = tiny_dataset(16, num_images=32)
    settings = dict(total_steps=2, global_batch_size=16, steps_per_loop=2, weight_decay=1e-2,
                    optimizer="sgd", nesterov=True)
    big = make_trainer(build, grad_accum_steps=1, **settings)
    big.train(data)
    accumulated = make_trainer(build, grad_accum_steps=4, **settings)
    accumulated.train(data)
    assert int(accumulated.optimizer.iterations.numpy()) == 2
    for a, b in zip(weights_of(accumulated.model), weights_of(big.model)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    assert not np.allclose(weights_of(big.model)[0], initial[0])  # it did train


def test_grad_accumulation_rejects_uneven_split():
    with pytest.raises(ValueError, match="grad_accum_steps"):
        make_trainer(global_batch_size=8, grad_accum_steps=3)


class RecordingTrainer(trainers.ClassificationTrainer):
    """Keeps the weights and drop-path rates seen after every loop."""

    def on_loop_end(self, step, logs):
        self.seen = getattr(self, "seen", [])
        self.seen.append({"weights": [v.numpy().copy() for v in self.ema.model_variables]
                          if self.ema else None,
                          "rates": [float(l.rate.numpy()) for l in self.drop_path_layers]})


def test_ema_follows_the_numpy_formula_with_warmup():
    trainer = make_trainer(trainer_cls=RecordingTrainer, total_steps=4, steps_per_loop=1,
                           ema_decay=0.9, ema_warmup=True)
    expected = [v.numpy().astype(np.float32) for v in trainer.ema.model_variables]
    trainer.train(tiny_dataset(8))
    for step, seen in enumerate(trainer.seen, start=1):
        decay = min(0.9, (1 + step) / (10 + step))
        expected = [decay * e + (1 - decay) * w for e, w in zip(expected, seen["weights"])]
    for average, value in zip(trainer.ema.average_variables, expected):
        np.testing.assert_allclose(average.numpy(), value, rtol=1e-5, atol=1e-6)


def test_evaluate_uses_ema_weights_and_keeps_trained_ones():
    trainer = make_trainer(total_steps=5, ema_decay=0.5)
    trainer.train(tiny_dataset(8))
    trained = weights_of(trainer.model)
    with_ema = trainer.evaluate(tiny_dataset(8))
    raw = trainer.evaluate(tiny_dataset(8), use_ema=False)
    assert with_ema["loss"] != pytest.approx(raw["loss"], abs=1e-7)
    for a, b in zip(trained, weights_of(trainer.model)):
        np.testing.assert_array_equal(a, b)
    # Reference: the same metrics computed directly with the averaged weights.
    trainer.ema.copy_to()
    images, labels = tiny_data(32)
    logits = trainer.model(images, training=False).numpy()
    assert with_ema["top1"] == pytest.approx(np.mean(logits.argmax(-1) == labels))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    assert with_ema["loss"] == pytest.approx(-np.mean(log_probs[np.arange(32), labels]), rel=1e-5)


def test_drop_path_rates_follow_the_schedule_without_retracing():
    """Linear ScheduledDropPath: update k (1-based) of T uses k / T of the rates, set at every
    step (several steps per loop), so the last update and the saved variables use the full rate."""
    trainer = make_trainer(lambda: tiny_model(depth=3), trainer_cls=RecordingTrainer,
                           total_steps=6, steps_per_loop=2, drop_path_rate=0.3,
                           drop_path_schedule="linear")
    assert [l.base_rate for l in trainer.drop_path_layers] == pytest.approx([0.0, 0.15, 0.3])
    trainer.train(tiny_dataset(8))
    for step, seen in zip((2, 4, 6), trainer.seen):
        scale = step / 6  # the rates the loop's last update used
        assert seen["rates"] == pytest.approx([0.0, 0.15 * scale, 0.3 * scale])
    assert [float(l.rate.numpy()) for l in trainer.drop_path_layers] == pytest.approx(
        [0.0, 0.15, 0.3])
    assert trainer._loop_fn.experimental_get_tracing_count() == 1


def test_constant_drop_path_keeps_the_models_rates():
    trainer = make_trainer(lambda: tiny_model(depth=2, drop_path_rate=0.2), total_steps=2)
    trainer.train(tiny_dataset(8))
    assert [float(l.rate.numpy()) for l in trainer.drop_path_layers] == pytest.approx([0, 0.2])


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_like_float32(precision):
    """Same init and data: the mixed-precision run's loss and weights stay close to float32's
    (within the 8-bit / 11-bit mantissa of the compute dtype)."""
    initial = tiny_model().get_weights()

    def build():
        model = tiny_model()
        model.set_weights(initial)
        return model

    reference = make_trainer(build, total_steps=2, steps_per_loop=2)
    reference_logs = reference.train(tiny_dataset(8))
    trainer = make_trainer(build, total_steps=2, steps_per_loop=2, precision=precision)
    assert trainer.model.compute_dtype == precision.split("_")[1]
    logs = trainer.train(tiny_dataset(8))
    assert np.isfinite(logs["loss"]) and logs["skipped_updates"] == 0
    tolerance = 2e-2 if precision == "mixed_bfloat16" else 2e-3
    assert logs["loss"] == pytest.approx(reference_logs["loss"], rel=tolerance)
    start = weights_of(build())
    # The two runs moved each weight tensor alike: their gap is small next to the move itself
    # (bf16 rounds activations and gradients to 8 mantissa bits, float16 to 11). A run that did
    # not train, or applied still-scaled float16 gradients, is off by 100% or more.
    bound = 0.15 if precision == "mixed_bfloat16" else 0.05
    for ours, theirs, before in zip(weights_of(trainer.model), weights_of(reference.model), start):
        gap, move = np.linalg.norm(ours - theirs), np.linalg.norm(theirs - before)
        assert move > 0 and gap <= bound * move, (gap, move)
    assert trainer.model(tiny_data(2)[0]).dtype == tf.float32
    assert all(v.dtype == tf.float32 for v in trainer.model.trainable_variables)
    is_scaled = isinstance(trainer.optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
    assert is_scaled == (precision == "mixed_float16")


def test_built_model_with_another_precision_is_refused():
    with pytest.raises(ValueError, match="mixed_bfloat16"):
        make_trainer(tiny_model(), precision="mixed_bfloat16")


def test_jit_compiled_step_matches_the_plain_one():
    initial = tiny_model().get_weights()

    def build():
        model = tiny_model()
        model.set_weights(initial)
        return model

    runs = []
    for jit in (False, True):
        trainer = make_trainer(build, total_steps=2, steps_per_loop=2, jit_compile=jit,
                               grad_accum_steps=2)
        # the replica step is XLA-compiled exactly when asked (on CPU the default is off)
        assert len(xla_compiled_functions(trainer)) == (1 if jit else 0)
        trainer.train(tiny_dataset(8))
        runs.append(weights_of(trainer.model))
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, atol=1e-5)
    auto = make_trainer(build, jit_compile=None)  # auto: off on this CPU
    assert not auto.jit_compile and xla_compiled_functions(auto) == []


def xla_compiled_functions(trainer):
    """Names of the functions the traced update marks for XLA compilation (``_XlaMustCompile``)."""
    images, labels = tiny_data(trainer.config.global_batch_size)
    update = tf.function(trainer.update).get_concrete_function(
        tf.TensorSpec(images.shape), tf.TensorSpec(labels.shape, tf.int32))
    return [re.sub(r"^__inference_|_\d+$", "", function.signature.name)  # __inference_f_123
            for function in update.graph.as_graph_def().library.function
            if "_XlaMustCompile" in function.attr and function.attr["_XlaMustCompile"].b]


class PoisonedTrainer(trainers.ClassificationTrainer):
    """Its loss turns NaN from the 5th update on."""

    def compute_loss(self, images, labels, logits):
        loss = super().compute_loss(images, labels, logits)
        return tf.where(self.optimizer.iterations >= 4, np.nan, loss)


def test_nan_loss_stops_training_naming_the_step():
    trainer = make_trainer(trainer_cls=PoisonedTrainer, steps_per_loop=3)
    with pytest.raises(trainers.NonFiniteLossError, match="step 5"):
        trainer.train(tiny_dataset(8))
    assert all(np.all(np.isfinite(w)) for w in weights_of(trainer.model))
    assert int(trainer.optimizer.iterations.numpy()) == 4


def test_nan_policy_skip_drops_the_updates():
    """Skipped updates change no weight but advance the schedules' step (the documented rule)."""
    trainer = make_trainer(trainer_cls=PoisonedTrainer, nan_policy="skip", total_steps=6,
                           steps_per_loop=2)
    trainer.train(tiny_dataset(8), num_steps=4)
    after_four = weights_of(trainer.model)
    logs = trainer.train(tiny_dataset(8))
    assert logs["skipped_updates"] == 2 and logs["step"] == 6
    assert int(trainer.optimizer.iterations.numpy()) == 6
    for a, b in zip(after_four, weights_of(trainer.model)):
        np.testing.assert_array_equal(a, b)


def test_nonfinite_gradients_of_a_finite_loss_are_caught():
    trainer = make_trainer(trainer_cls=PoisonedGradientsTrainer, steps_per_loop=2)
    with pytest.raises(trainers.NonFiniteLossError, match="gradients.*at step 3"):
        trainer.train(tiny_dataset(8))
    assert all(np.all(np.isfinite(w)) for w in weights_of(trainer.model))
    assert int(trainer.optimizer.iterations.numpy()) == 2
    skipping = make_trainer(trainer_cls=PoisonedGradientsTrainer, nan_policy="skip",
                            total_steps=4, steps_per_loop=4)
    logs = skipping.train(tiny_dataset(8))
    assert logs["skipped_updates"] == 2
    assert all(np.all(np.isfinite(w)) for w in weights_of(skipping.model))


def test_distillation_pulls_the_student_to_the_teacher():
    teacher = tiny_model(width=16)
    teacher_weights = weights_of(teacher)
    images, _ = tiny_data(32)
    trainer = trainers.DistillationTrainer(
        lambda: tiny_model(), teacher, trainers.TrainConfig.from_flat(
            total_steps=40, global_batch_size=8, optimizer="adamw", learning_rate=0.01,
            schedule="constant", steps_per_loop=20, jit_compile=False),
        alpha=1.0, temperature=2.0)

    def gap():
        return float(tf.reduce_mean(trainers.distillation_loss(
            trainer.model(images), teacher(images), 2.0)))

    before = gap()
    trainer.train(tiny_dataset(8))
    assert gap() < 0.5 * before
    for a, b in zip(teacher_weights, weights_of(teacher)):
        np.testing.assert_array_equal(a, b)


def test_distillation_loss_matches_numpy_kl():
    rng = np.random.default_rng(0)
    student, teacher = rng.normal(size=(2, 3, 5)).astype(np.float32)
    t = 3.0

    def softmax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    p, q = softmax(teacher / t), softmax(student / t)
    expected = t * t * np.sum(p * np.log(p / q), axis=-1)
    np.testing.assert_allclose(trainers.distillation_loss(student, teacher, t), expected,
                               rtol=1e-5)


def test_data_errors_are_explained():
    trainer = make_trainer(total_steps=1)
    with pytest.raises(ValueError, match="batches of 4 but .*global_batch_size is 8"):
        trainer.train(tiny_dataset(4))
    with pytest.raises(ValueError, match="infinite"):
        trainer.evaluate(tiny_dataset(8).repeat())


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="precision"):
        trainers.TrainConfig(precision="float8").validate()
    with pytest.raises(ValueError, match="nan_policy"):
        trainers.TrainConfig(nan_policy="ignore").validate()


class TinyNetWithAux(tf_keras.Model):
    """Main and auxiliary logits from one trunk: ``(logits, aux)`` in training, logits otherwise."""

    aux_loss_weights = (0.3,)

    def __init__(self):
        super().__init__()
        self.trunk = tiny_model(norm=None)
        self.aux = tf_keras.layers.Dense(4, name="aux")

    def call(self, x, training=None):
        logits = self.trunk(x, training=training)
        if not training:
            return logits
        pooled = tf.reduce_mean(x, axis=[1, 2])
        return logits, self.aux(pooled)


def test_auxiliary_heads_add_their_weighted_loss():
    """The reported loss of the first step is CE(main) + 0.3 * CE(aux), computed with numpy."""
    from test_trainer_helpers import smoothed_cross_entropy

    def build():
        model = TinyNetWithAux()
        model(tf.zeros([1, 8, 8, 3]), training=True)  # builds the aux head too
        return model

    trainer = make_trainer(build, total_steps=1, steps_per_loop=1)
    images, labels = (a[:8] for a in tiny_data(32))
    logits, aux = trainer.model(images, training=True)
    expected = (smoothed_cross_entropy(logits.numpy(), labels, 0.0)
                + 0.3 * smoothed_cross_entropy(aux.numpy(), labels, 0.0))
    logs = trainer.train(tiny_dataset(8))
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)
    assert trainer.evaluate(tiny_dataset(8))["top1"] >= 0  # evaluation takes the main logits
