"""Exponential moving average of model weights (Polyak & Juditsky, 1992), as timm's ModelEmaV2
and Model Garden's ExponentialMovingAverage keep it for evaluation::

    average = decay * average + (1 - decay) * weight,  decay = min(decay, (1 + step) / (10 + step))
                                                        (the second term only with warmup=True)

Distribution: create the EMA under ``strategy.scope()`` (its float32 shadow variables are then
mirrored like the model's). ``update``, ``copy_to`` and ``swap`` work in either context: inside
``strategy.run`` (replica context: they enter a merge call, like ``optimizer.apply_gradients``)
or in the cross-replica part of a ``tf.function`` / eagerly. Each device updates its own copy
from its own copy of the weights, so nothing crosses devices for mirrored weights; weights that
are synchronized on read (Keras BatchNorm moving statistics) are averaged across replicas first.
"""
import contextlib

import tensorflow as tf

from tfcls.optim._variables import is_sync_on_read, true_dtype


def model_ema_variables(model, include_non_trainable=True):
    """The variables worth averaging: trainable weights, plus (like timm, which averages buffers)
    non-trainable float tensors of rank >= 1 such as BatchNorm moving statistics. Scalars (step
    counters, DropPath rates) are left out."""
    variables = list(model.trainable_weights)
    if include_non_trainable:
        variables += [v for v in model.non_trainable_weights
                      if v.dtype.is_floating and v.shape.rank and v.shape.rank >= 1]
    return variables


class ExponentialMovingAverage(tf.Module):
    """Float32 moving averages of ``variables`` (see module doc).

    Args:
      variables: the model variables to average (e.g. ``model_ema_variables(model)``); their
        current values are the initial averages, so build the model first.
      decay: the EMA decay, e.g. 0.9999 (ImageNet-length runs) or 0.998.
      warmup: use ``min(decay, (1 + step) / (10 + step))`` so early averages track the weights.

    The object is a ``tf.Module``: put it in a ``tf.train.Checkpoint`` to save the averages.
    """

    def __init__(self, variables, decay=0.9999, warmup=False, name="ema"):
        super().__init__(name=name)
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}.")
        # Not a checkpoint dependency: the checkpoint of an EMA holds only the averages.
        self._model_variables = self._no_dependency(tuple(variables))
        if not self._model_variables:
            raise ValueError("ExponentialMovingAverage got no variables to average.")
        distributed = any(isinstance(v, tf.distribute.DistributedValues)
                          for v in self._model_variables)
        if distributed and not tf.distribute.has_strategy():
            raise ValueError("The variables are distributed: create ExponentialMovingAverage "
                             "under the same `strategy.scope()` as the model.")
        self._strategy = self._no_dependency(tf.distribute.get_strategy())
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self._averages = [self._make_average(v) for v in self._model_variables]

    @staticmethod
    def _make_average(variable):
        return tf.Variable(
            lambda: tf.cast(variable.read_value(), tf.float32),
            name="ema/" + variable.name.split(":")[0], trainable=False,
            synchronization=tf.VariableSynchronization.ON_WRITE,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    @property
    def average_variables(self):
        """The shadow (averaged) variables, in the order of the model variables."""
        return list(self._averages)

    @property
    def model_variables(self):
        return list(self._model_variables)

    def current_decay(self, step):
        """The decay used at optimizer step ``step`` (with warmup if enabled)."""
        decay = tf.constant(self.decay, tf.float32)
        if not self.warmup:
            return decay
        step = tf.cast(step, tf.float32)
        return tf.minimum(decay, (1.0 + step) / (10.0 + step))

    def update(self, step):
        """One EMA step. Call it right after ``apply_gradients`` with ``optimizer.iterations``
        (then 1 at the first update, as Model Garden passes it); ``step`` only matters for the
        warmup."""
        decay = self.current_decay(step)

        def update_average(average, weight, decay):
            # average - (1 - decay) * (average - weight): one temporary less than the textbook
            # form, in place (measured ~15-30% faster on ResNet-50's weights on CPU).
            weight = tf.cast(weight, tf.float32)
            return average.assign_sub((1.0 - decay) * (average - weight))

        self._for_each_pair(update_average, decay, aggregate_on_read=True)

    def copy_to(self, variables=None):
        """Assigns the averages into ``variables`` (default: the averaged model variables)."""
        targets = self._targets(variables)

        def copy(average, weight):
            return weight.assign(tf.cast(average, true_dtype(weight)))

        self._for_each_pair(copy, targets=targets)

    def swap(self, variables=None):
        """Exchanges the averages and the model's values (call twice to undo). Exact, no extra
        persistent memory; each device swaps its own copies."""
        targets = self._targets(variables)

        def exchange(average, weight):
            saved = tf.cast(tf.identity(weight.read_value()), tf.float32)
            with tf.control_dependencies([saved]):
                assign_weight = weight.assign(tf.cast(average, true_dtype(weight)))
            with tf.control_dependencies([assign_weight]):
                return average.assign(saved)

        self._for_each_pair(exchange, targets=targets)

    @contextlib.contextmanager
    def average_weights(self, variables=None):
        """``with ema.average_weights(): evaluate(model)`` runs with the averages, then restores
        the trained weights (eager / cross-replica context)."""
        self.swap(variables)
        try:
            yield
        finally:
            self.swap(variables)

    def _targets(self, variables):
        if variables is None:
            return self._model_variables
        variables = tuple(variables)
        if len(variables) != len(self._averages):
            raise ValueError(f"Expected {len(self._averages)} variables matching the averaged "
                             f"ones, got {len(variables)}.")
        for average, target in zip(self._averages, variables):
            if average.shape != target.shape:
                raise ValueError(f"Variable {target.name} has shape {target.shape}, its average "
                                 f"{average.shape}.")
        return variables

    def _for_each_pair(self, fn, *args, targets=None, aggregate_on_read=False):
        """Runs ``fn(average, weight, *args)`` on each device's copies, from any context."""
        targets = self._model_variables if targets is None else targets

        def cross_replica_fn(strategy, *args):
            for average, weight in zip(self._averages, targets):
                if aggregate_on_read and is_sync_on_read(weight):
                    weight = tf.convert_to_tensor(weight)  # replica mean (cross-replica read)
                strategy.extended.update(average, fn, args=(weight, *args), group=False)

        if not tf.distribute.has_strategy():  # outside any scope: enter the EMA's own
            with self._strategy.scope():
                return cross_replica_fn(self._strategy, *args)
        if tf.distribute.get_strategy() is not self._strategy:
            raise ValueError("ExponentialMovingAverage used under another distribution strategy "
                             "than the one it was created under.")
        if tf.distribute.in_cross_replica_context():
            return cross_replica_fn(self._strategy, *args)
        return tf.distribute.get_replica_context().merge_call(cross_replica_fn, args=args)
