"""Learning-rate schedules against numpy formulas at every step."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfcls import optim

BASE, TOTAL, WARMUP, INIT, MIN = 0.4, 100, 10, 0.01, 0.001
STEPS = np.arange(0, TOTAL + 20)


def _np_warmup(lr_after, steps, warmup, init=INIT, peak=BASE):
    warm = init + (peak - init) * steps / max(warmup, 1)
    return np.where(steps < warmup, warm, lr_after)


def _evaluate(schedule, steps=STEPS):
    return np.array([float(schedule(tf.constant(s, tf.int64))) for s in steps])


def test_cosine_with_warmup():
    schedule = optim.create_lr_schedule("cosine", BASE, total_steps=TOTAL, warmup_steps=WARMUP,
                                        warmup_init_lr=INIT, min_lr=MIN)
    progress = np.clip((STEPS - WARMUP) / (TOTAL - WARMUP), 0, 1)
    cosine = MIN + 0.5 * (BASE - MIN) * (1 + np.cos(np.pi * progress))
    want = _np_warmup(cosine, STEPS, WARMUP)
    np.testing.assert_allclose(_evaluate(schedule), want, rtol=1e-5, atol=1e-7)
    assert _evaluate(schedule, [WARMUP])[0] == pytest.approx(BASE)
    assert _evaluate(schedule, [TOTAL, TOTAL + 5]) == pytest.approx([MIN, MIN])


def test_cosine_without_warmup_starts_at_base():
    schedule = optim.create_lr_schedule("cosine", BASE, total_steps=TOTAL)
    want = 0.5 * BASE * (1 + np.cos(np.pi * np.clip(STEPS / TOTAL, 0, 1)))
    np.testing.assert_allclose(_evaluate(schedule), want, rtol=1e-5, atol=1e-7)


def test_step_every_decay_steps():
    schedule = optim.create_lr_schedule("step", BASE, total_steps=TOTAL, warmup_steps=WARMUP,
                                        warmup_init_lr=INIT, decay_steps=30, decay_rate=0.1)
    want = _np_warmup(BASE * 0.1 ** np.floor(STEPS / 30), STEPS, WARMUP)
    np.testing.assert_allclose(_evaluate(schedule), want, rtol=1e-5)


def test_step_at_boundaries_with_floor():
    schedule = optim.create_lr_schedule("step", BASE, total_steps=TOTAL, boundaries=[20, 50, 90],
                                        decay_rate=0.1, min_lr=MIN)
    num_passed = (STEPS[:, None] >= np.array([20, 50, 90])).sum(1)
    want = np.maximum(BASE * 0.1**num_passed, MIN)
    np.testing.assert_allclose(_evaluate(schedule), want, rtol=1e-5)
    assert _evaluate(schedule, [95])[0] == pytest.approx(MIN)


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential(staircase):
    schedule = optim.create_lr_schedule("exponential", BASE, total_steps=TOTAL,
                                        warmup_steps=WARMUP, decay_steps=2.4 * 5,
                                        decay_rate=0.97, staircase=staircase)
    exponent = STEPS / 12.0
    exponent = np.floor(exponent) if staircase else exponent
    want = _np_warmup(BASE * 0.97**exponent, STEPS, WARMUP, init=0.0)
    np.testing.assert_allclose(_evaluate(schedule), want, rtol=1e-5)


def test_constant_with_warmup():
    schedule = optim.create_lr_schedule("constant", BASE, warmup_steps=WARMUP)
    want = _np_warmup(np.full(len(STEPS), BASE), STEPS, WARMUP, init=0.0)
    np.testing.assert_allclose(_evaluate(schedule), want, rtol=1e-6)


@pytest.mark.parametrize("name", optim.SCHEDULE_NAMES)
def test_schedules_serialize_and_run_in_tf_function(name):
    schedule = optim.create_lr_schedule(name, BASE, total_steps=TOTAL, warmup_steps=WARMUP,
                                        decay_steps=7, min_lr=MIN)
    restored = tf_keras.optimizers.schedules.deserialize(
        tf_keras.optimizers.schedules.serialize(schedule))
    assert restored.get_config() == schedule.get_config()
    steps = tf.constant(STEPS, tf.int64)
    compiled = tf.function(lambda s: restored(s))
    np.testing.assert_allclose(compiled(steps).numpy(), _evaluate(schedule), rtol=1e-5)


def test_bad_schedule_arguments_raise():
    with pytest.raises(ValueError, match="cosine, step, exponential, constant"):
        optim.create_lr_schedule("linear_typo", BASE, total_steps=TOTAL)
    with pytest.raises(ValueError, match="total_steps > warmup_steps"):
        optim.create_lr_schedule("cosine", BASE, total_steps=5, warmup_steps=10)
    with pytest.raises(ValueError, match="decay_steps or boundaries"):
        optim.create_lr_schedule("step", BASE, total_steps=TOTAL)
    with pytest.raises(ValueError, match="increasing"):
        optim.create_lr_schedule("step", BASE, total_steps=TOTAL, boundaries=[50, 20])
    with pytest.raises(ValueError, match="decay_steps > 0"):
        optim.create_lr_schedule("exponential", BASE, total_steps=TOTAL)
