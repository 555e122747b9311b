"""ExponentialMovingAverage against numpy, alone and under a 2-device MirroredStrategy."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from conftest import two_cpu_strategy
from tfcls import optim
from tfcls.layers import DropPath


def _np_ema(history, decay, warmup, first_step=0):
    """history[0]: initial weights; history[k]: the weights at the k-th EMA update, whose step
    argument is first_step + k - 1."""
    average = history[0].astype(np.float64)
    for step, weights in enumerate(history[1:], start=first_step):
        d = min(decay, (1 + step) / (10 + step)) if warmup else decay
        average = d * average + (1 - d) * weights
    return average


@pytest.mark.parametrize("warmup", [False, True])
def test_ema_matches_numpy(warmup):
    rng = np.random.default_rng(0)
    variables = [tf.Variable(rng.normal(size=(3, 2)).astype(np.float32)),
                 tf.Variable(rng.normal(size=(2,)).astype(np.float32))]
    ema = optim.ExponentialMovingAverage(variables, decay=0.7, warmup=warmup)
    update = tf.function(ema.update)
    history = [[v.numpy() for v in variables]]
    for step in range(5):
        for v in variables:
            v.assign(rng.normal(size=v.shape).astype(np.float32))
        update(tf.constant(step, tf.int64))
        history.append([v.numpy() for v in variables])
    for i, average in enumerate(ema.average_variables):
        want = _np_ema([h[i] for h in history], 0.7, warmup)
        np.testing.assert_allclose(average.numpy(), want, rtol=1e-5, atol=1e-6)
    assert ema.average_variables[0].dtype == tf.float32


def test_swap_copy_to_and_checkpoint(tmp_path):
    variable = tf.Variable([1.0, 2.0])
    ema = optim.ExponentialMovingAverage([variable], decay=0.5)
    variable.assign([3.0, 6.0])
    ema.update(0)  # average: [2, 4]
    with ema.average_weights():
        np.testing.assert_array_equal(variable.numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(variable.numpy(), [3.0, 6.0])
    tf.function(ema.swap)()
    np.testing.assert_array_equal(variable.numpy(), [2.0, 4.0])
    tf.function(ema.swap)()
    np.testing.assert_array_equal(variable.numpy(), [3.0, 6.0])

    path = tf.train.Checkpoint(ema=ema).save(str(tmp_path / "ckpt"))
    other = tf.Variable([0.0, 0.0])
    restored = optim.ExponentialMovingAverage([other], decay=0.5)
    tf.train.Checkpoint(ema=restored).restore(path).assert_consumed()
    np.testing.assert_array_equal(other.numpy(), [0.0, 0.0])  # only averages are saved
    restored.copy_to()
    np.testing.assert_array_equal(other.numpy(), [2.0, 4.0])


def _tiny_model():
    return tf_keras.Sequential([
        tf_keras.layers.Conv2D(4, 3, use_bias=False, input_shape=(8, 8, 3)),
        tf_keras.layers.BatchNormalization(),
        DropPath(0.1),
        tf_keras.layers.Flatten(),
        tf_keras.layers.Dense(3),
    ])


def test_model_ema_variables_takes_weights_and_bn_statistics_not_scalars():
    model = _tiny_model()
    variables = optim.model_ema_variables(model)
    names = [v.name.split("/")[-1] for v in variables]
    assert names == ["kernel:0", "gamma:0", "beta:0", "kernel:0", "bias:0",
                     "moving_mean:0", "moving_variance:0"]
    assert len(optim.model_ema_variables(model, include_non_trainable=False)) == 5


def test_wrong_targets_raise():
    ema = optim.ExponentialMovingAverage([tf.Variable([1.0, 2.0])])
    with pytest.raises(ValueError, match="Expected 1 variables"):
        ema.copy_to([])
    with pytest.raises(ValueError, match="shape"):
        ema.copy_to([tf.Variable([1.0])])
    with pytest.raises(ValueError, match="decay"):
        optim.ExponentialMovingAverage([tf.Variable(1.0)], decay=1.5)


def _mirrored_training(update_in, policy):
    """3 SGD steps of a conv+BN model on 2 devices; EMA updated in replica or cross-replica
    context. Returns (ema, history of the (replica-mean) weights)."""
    tf_keras.mixed_precision.set_global_policy(policy)
    try:
        strategy = two_cpu_strategy()
        with strategy.scope():
            model = _tiny_model()
            optimizer = optim.create_optimizer("sgd", 0.1, weight_decay=1e-2)
            ema = optim.ExponentialMovingAverage(optim.model_ema_variables(model), decay=0.6,
                                                 warmup=True)
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    rng = np.random.default_rng(1)
    images = rng.normal(size=(3, 8, 8, 8, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=(3, 8))

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_sum(optim.classification_loss(y, logits, num_classes=3)) / 8.0
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        if update_in == "replica":
            ema.update(optimizer.iterations)

    @tf.function
    def train_step(batch):
        strategy.run(replica_step, args=batch)
        if update_in == "cross_replica":
            ema.update(optimizer.iterations)

    def snapshot():  # a cross-replica read of a sync-on-read variable is the replica mean
        return [tf.cast(v.read_value(), tf.float32).numpy() for v in ema.model_variables]

    history = [snapshot()]
    for x, y in zip(images, labels):
        dataset = tf.data.Dataset.from_tensors((x, y))
        batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
        train_step(batch)
        history.append(snapshot())
    return ema, history


@pytest.mark.parametrize("update_in,policy", [("replica", "float32"),
                                              ("cross_replica", "float32"),
                                              ("replica", "mixed_bfloat16")])
def test_ema_under_mirrored_strategy_matches_numpy(update_in, policy):
    ema, history = _mirrored_training(update_in, policy)
    moving_mean = ema.model_variables[-2]
    replica_means = [v.numpy() for v in moving_mean.values]
    assert not np.allclose(*replica_means)  # BN statistics differ per replica
    for i, average in enumerate(ema.average_variables):
        want = _np_ema([h[i] for h in history], 0.6, warmup=True, first_step=1)
        assert np.abs(want - history[0][i]).max() > 1e-4
        for copy in average.values:  # every device holds the same, correct average
            np.testing.assert_allclose(copy.numpy(), want, rtol=1e-5, atol=1e-6)

    trained = [[c.numpy() for c in v.values] for v in ema.model_variables]
    averages = [a.values[0].numpy() for a in ema.average_variables]
    with ema.average_weights():
        for v, average in zip(ema.model_variables, averages):
            for copy in v.values:
                np.testing.assert_array_equal(copy.numpy(), average)
    for v, copies in zip(ema.model_variables, trained):
        for copy, before in zip(v.values, copies):
            np.testing.assert_array_equal(copy.numpy(), before)


def test_distributed_variables_need_the_strategy_scope():
    strategy = two_cpu_strategy()
    with strategy.scope():
        variable = tf.Variable([1.0, 2.0])
    with pytest.raises(ValueError, match="strategy.scope"):
        optim.ExponentialMovingAverage([variable])
