"""Optimizers against numpy implementations of their papers' update rules; weight-decay masking;
the classification loss against a numpy formula."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from conftest import two_cpu_strategy
from tfcls import optim


LR, WD = 0.1, 0.05
STEPS = 3


def _problem(seed=0):
    """A rank-2 variable (decayed), a rank-1 one (not decayed) and 3 steps of their gradients."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(4,)).astype(np.float32)]
    grads = [[rng.normal(size=w.shape).astype(np.float32) for w in weights] for _ in range(STEPS)]
    return weights, grads


def _run_tf(optimizer, weights, grads):
    variables = [tf.Variable(w) for w in weights]
    for step_grads in grads:
        optimizer.apply_gradients(zip([tf.constant(g) for g in step_grads], variables))
    return [v.numpy() for v in variables]


def _decay(w, lr, wd):
    return w - lr * wd * w if w.ndim > 1 else w


def _np_sgd_nesterov(w, gs, lr, wd, mu=0.9):
    """Sutskever et al. (2013) Nesterov momentum, PyTorch form; decoupled decay."""
    buf = np.zeros_like(w)
    for g in gs:
        w = _decay(w, lr, wd)
        buf = mu * buf + g
        w = w - lr * (g + mu * buf)
    return w


def _np_adamw(w, gs, lr, wd, b1=0.9, b2=0.999, eps=1e-8):
    """Loshchilov & Hutter (2019), Algorithm 2."""
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(gs, start=1):
        w = _decay(w, lr, wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return w


def _np_rmsprop_tf(w, gs, lr, wd, rho=0.9, mu=0.9, eps=1e-3):
    """TF1 RMSProp: mean square starts at 1, epsilon inside the sqrt, lr inside momentum."""
    ms, mom = np.ones_like(w), np.zeros_like(w)
    for g in gs:
        w = _decay(w, lr, wd)
        ms = rho * ms + (1 - rho) * g * g
        mom = mu * mom + lr * g / np.sqrt(ms + eps)
        w = w - mom
    return w


def _np_lamb(w, gs, lr, wd, b1=0.9, b2=0.999, eps=1e-6):
    """You et al. (2019), Algorithm 2; rank-1 variables: no decay, no trust ratio."""
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(gs, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        r = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        if w.ndim > 1:
            r = r + wd * w
            r = r * np.linalg.norm(w) / np.linalg.norm(r)
        w = w - lr * r
    return w


def _np_lion(w, gs, lr, wd, b1=0.9, b2=0.99):
    """Chen et al. (2023), Program 1."""
    m = np.zeros_like(w)
    for g in gs:
        w = _decay(w, lr, wd) - lr * np.sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
    return w


REFERENCES = {
    "sgd": (dict(nesterov=True), _np_sgd_nesterov),
    "adamw": ({}, _np_adamw),
    "rmsprop": ({}, _np_rmsprop_tf),
    "lamb": ({}, _np_lamb),
    "lion": ({}, _np_lion),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("weight_decay", [0.0, WD])
def test_optimizer_matches_numpy_update_rule(name, weight_decay):
    kwargs, reference = REFERENCES[name]
    weights, grads = _problem()
    optimizer = optim.create_optimizer(name, LR, weight_decay=weight_decay, **kwargs)
    got = _run_tf(optimizer, weights, grads)
    for i, (w, got_w) in enumerate(zip(weights, got)):
        want = reference(w, [g[i] for g in grads], LR, weight_decay)
        np.testing.assert_allclose(got_w, want, rtol=1e-5, atol=1e-6)
        assert not np.allclose(got_w, w)


def test_adamw_epsilon_is_added_after_bias_correction_where_it_dominates():
    """Gradients of 1e-8 beside epsilon 1e-8: the fused kernel's epsilon must be the papers'
    (added to sqrt(v_hat)), not TF1's (added to sqrt(v)), or the first steps differ ~30-fold."""
    weights, grads = _problem(seed=3)
    grads = [[g * np.float32(1e-8) for g in step] for step in grads]
    got = _run_tf(optim.create_optimizer("adamw", LR, epsilon=1e-8), weights, grads)
    for i, w in enumerate(weights):
        want = _np_adamw(w.astype(np.float64), [g[i].astype(np.float64) for g in grads], LR, 0.0)
        np.testing.assert_allclose(got[i] - w, want - w, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("name", ["adamw", "rmsprop", "lamb"])
def test_xla_compiled_update_matches_numpy(name):
    """On GPU the optimizers compile their update with XLA; check that path once on CPU."""
    kwargs, reference = REFERENCES[name]
    weights, grads = _problem(seed=7)
    optimizer = optim.create_optimizer(name, LR, weight_decay=WD, **kwargs)
    optimizer.jit_compile = True  # tf_keras turns it off when it sees no GPU
    got = _run_tf(optimizer, weights, grads)
    for i, w in enumerate(weights):
        want = reference(w, [g[i] for g in grads], LR, WD)
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-6)


def test_tf_rmsprop_matches_tf1_kernel():
    """The TF1 RMSProp kernel (ApplyRMSProp) is the reference the variant is named after."""
    weights, grads = _problem(seed=1)
    got = _run_tf(optim.create_optimizer("rmsprop", LR, epsilon=1e-3), weights, grads)
    tf1 = tf.compat.v1.train.RMSPropOptimizer(LR, decay=0.9, momentum=0.9, epsilon=1e-3)
    want = _run_tf(tf1, weights, grads)
    for got_w, want_w in zip(got, want):
        np.testing.assert_allclose(got_w, want_w, rtol=1e-5, atol=1e-6)


def test_sgd_with_schedule_uses_the_step_learning_rate():
    weights, grads = _problem(seed=2)
    schedule = optim.create_lr_schedule("step", LR, boundaries=[1, 2], decay_rate=0.5)
    got = _run_tf(optim.create_optimizer("sgd", schedule, momentum=0.0), weights, grads)
    for i, w in enumerate(weights):
        want = w - sum(LR * 0.5**t * g[i] for t, g in enumerate(grads))
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-6)


def _tiny_model():
    model = tf_keras.Sequential([
        tf_keras.layers.Conv2D(4, 3, input_shape=(8, 8, 3)),
        tf_keras.layers.BatchNormalization(),
        tf_keras.layers.Flatten(),
        tf_keras.layers.Dense(2),
    ])
    for v in model.trainable_variables:  # non-trivial BN gamma/beta and biases
        v.assign(tf.random.normal(v.shape, seed=3))
    return model


@pytest.mark.parametrize("name", ["sgd", "adamw", "rmsprop", "lion"])
def test_decoupled_decay_shrinks_kernels_and_skips_biases_and_norms(name):
    """With zero gradients only the decay moves weights: kernels by (1 - lr*wd) per step."""
    model = _tiny_model()
    before = [v.numpy() for v in model.trainable_variables]
    optimizer = optim.create_optimizer(name, LR, weight_decay=WD)
    for _ in range(2):
        optimizer.apply_gradients([(tf.zeros_like(v), v) for v in model.trainable_variables])
    for v, w in zip(model.trainable_variables, before):
        want = w * (1 - LR * WD) ** 2 if w.ndim > 1 else w
        np.testing.assert_allclose(v.numpy(), want, rtol=1e-6, err_msg=v.name)
    assert [v.shape.rank for v in model.trainable_variables] == [4, 1, 1, 1, 2, 1]


def test_lamb_decays_and_adapts_kernels_only():
    model = _tiny_model()
    before = [v.numpy() for v in model.trainable_variables]
    optimizer = optim.create_optimizer("lamb", LR, weight_decay=WD)
    optimizer.apply_gradients([(tf.zeros_like(v), v) for v in model.trainable_variables])
    for v, w in zip(model.trainable_variables, before):
        if w.ndim > 1:  # update = wd * w, trust ratio 1 / wd: w -= lr * w
            np.testing.assert_allclose(v.numpy(), w * (1 - LR), rtol=1e-5)
        else:
            np.testing.assert_array_equal(v.numpy(), w)


def test_decay_mask_is_by_rank_not_name():
    model = _tiny_model()
    names = [v.name for v in model.trainable_variables]
    assert optim.decay_mask(model.trainable_variables) == [True, False, False, False, True, False]
    odd = tf.Variable(tf.ones([3]), name="kernel")  # a rank-1 "kernel" is still not decayed
    assert not optim.uses_weight_decay(odd) and any("kernel" in n for n in names)


def test_explicit_exclusion_still_applies():
    weights, grads = _problem()
    kernel = tf.Variable(weights[0])
    optimizer = optim.create_optimizer("sgd", LR, weight_decay=WD, momentum=0.0)
    optimizer.exclude_from_weight_decay(var_list=[kernel])
    optimizer.apply_gradients([(tf.zeros_like(kernel), kernel)])
    np.testing.assert_array_equal(kernel.numpy(), weights[0])


@pytest.mark.parametrize("name", optim.OPTIMIZER_NAMES)
def test_optimizer_config_round_trip_and_loss_scaling(name):
    schedule = optim.create_lr_schedule("cosine", LR, total_steps=10, warmup_steps=2)
    optimizer = optim.create_optimizer(name, schedule, weight_decay=WD, global_clipnorm=1.0)
    restored = tf_keras.optimizers.deserialize(tf_keras.optimizers.serialize(optimizer))
    assert type(restored) is type(optimizer)
    config, restored_config = optimizer.get_config(), restored.get_config()
    assert restored_config == config and config["weight_decay"] == WD
    # Loss scaling must not change the update: the same optimizer without clipping (a binding
    # clip would hide a scaled gradient), with and without dynamic loss scaling, from the same
    # start. (Adam-type and sign-based updates are nearly scale-invariant; SGD is not.)
    def unclipped():
        return optim.create_optimizer(name, optim.create_lr_schedule(
            "cosine", LR, total_steps=10, warmup_steps=2), weight_decay=WD)

    scaled = tf_keras.mixed_precision.LossScaleOptimizer(unclipped())
    plain = unclipped()
    variable = tf.Variable([[1.0, -2.0], [0.5, 3.0]])
    reference = tf.Variable(variable)
    for _ in range(3):  # step 0 has lr 0 under warmup
        with tf.GradientTape() as tape:
            loss = scaled.get_scaled_loss(tf.reduce_sum(variable**2))
        grads = scaled.get_unscaled_gradients(tape.gradient(loss, [variable]))
        scaled.apply_gradients(zip(grads, [variable]))
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(reference**2)
        plain.apply_gradients(zip(tape.gradient(loss, [reference]), [reference]))
    assert float(scaled.loss_scale) > 1.0
    np.testing.assert_allclose(variable.numpy(), reference.numpy(), rtol=1e-6, atol=1e-7)
    assert not np.allclose(variable.numpy(), [[1.0, -2.0], [0.5, 3.0]])


def test_global_clipnorm_clips():
    variable = tf.Variable(tf.zeros([4]))
    optimizer = optim.create_optimizer("sgd", 1.0, momentum=0.0, global_clipnorm=0.5)
    optimizer.apply_gradients([(tf.constant([3.0, 4.0, 0.0, 0.0]), variable)])
    np.testing.assert_allclose(variable.numpy(), [-0.3, -0.4, 0.0, 0.0], rtol=1e-6)


def _dense_steps(strategy, name, data):
    """Three steps of a Dense layer under ``strategy`` (loss averaged over the global batch)."""
    with strategy.scope():
        layer = tf_keras.layers.Dense(3, kernel_initializer="glorot_uniform")
        layer.build((None, 4))
        layer.kernel.assign(tf.reshape(tf.range(12, dtype=tf.float32) / 10.0 - 0.5, (4, 3)))
        layer.bias.assign([0.1, -0.2, 0.3])
        optimizer = optim.create_optimizer(name, LR, weight_decay=WD)

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(optim.classification_loss(y, layer(x), num_classes=3)) / 8.0
        grads = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply_gradients(zip(grads, layer.trainable_variables))

    step = tf.function(lambda batch: strategy.run(replica_step, args=batch))
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(data).batch(8))
    for batch in dataset:
        step(batch)
    return [v.numpy() for v in layer.trainable_variables]


@pytest.mark.parametrize("name", ["rmsprop", "lamb"])
def test_custom_optimizers_under_mirrored_strategy_match_one_device(name):
    rng = np.random.default_rng(6)
    data = (rng.normal(size=(24, 4)).astype(np.float32), rng.integers(0, 3, size=24))
    mirrored = _dense_steps(two_cpu_strategy(), name, data)
    single = _dense_steps(tf.distribute.OneDeviceStrategy("/cpu:0"), name, data)
    for got, want in zip(mirrored, single):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_unknown_names_and_bad_arguments_raise():
    with pytest.raises(ValueError, match="sgd, adamw, rmsprop, lamb, lion"):
        optim.create_optimizer("adam_typo", 0.1)
    with pytest.raises(ValueError, match="weight_decay"):
        optim.create_optimizer("sgd", 0.1, weight_decay=-1.0)


def _np_cross_entropy(targets, logits):
    logits = logits.astype(np.float64)
    log_probs = logits - logits.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    return -(targets * log_probs).sum(-1)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float16])
def test_classification_loss_matches_numpy(smoothing, dtype):
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(6, 5)).astype(np.float32) * 3
    labels = rng.integers(0, 5, size=6)
    loss = optim.classification_loss(tf.constant(labels), tf.constant(logits, dtype),
                                     num_classes=5, label_smoothing=smoothing)
    assert loss.dtype == tf.float32 and loss.shape == (6,)
    targets = np.eye(5)[labels] * (1 - smoothing) + smoothing / 5
    logits_seen = logits.astype(dtype.as_numpy_dtype)
    np.testing.assert_allclose(loss.numpy(), _np_cross_entropy(targets, logits_seen), rtol=1e-5)


def test_classification_loss_soft_targets_match_numpy():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(4, 3)).astype(np.float32)
    lam = 0.3  # a mixup of each example's one-hot label with the next one's
    labels = rng.integers(0, 3, size=4)
    targets = lam * np.eye(3)[labels] + (1 - lam) * np.eye(3)[np.roll(labels, 1)]
    loss = optim.classification_loss(tf.constant(targets, tf.float32), logits, num_classes=3,
                                     label_smoothing=0.1)
    want = _np_cross_entropy(targets * 0.9 + 0.1 / 3, logits)
    np.testing.assert_allclose(loss.numpy(), want, rtol=1e-5)


def test_classification_loss_rejects_mismatched_shapes():
    logits = tf.zeros([2, 3])
    with pytest.raises(ValueError, match="num_classes|shape"):
        optim.classification_loss(tf.constant([0, 1]), logits, num_classes=4)
    with pytest.raises(ValueError, match="dense targets"):
        optim.classification_loss(tf.zeros([2, 4]), logits, num_classes=3)
    with pytest.raises(ValueError, match="label_smoothing"):
        optim.classification_loss(tf.constant([0, 1]), logits, num_classes=3, label_smoothing=1.0)
