"""``Trainer``: a hand-written ``strategy.run`` training loop for image classifiers.

Reading order: ``train`` (Python: loops, logs, checkpoints) -> ``_train_loop`` (one tf.function
running ``steps_per_loop`` steps) -> ``update`` (one step) = ``compute_gradients`` (per replica:
``train_step``, the forward/backward over the micro-batches, possibly XLA-compiled, then the
all-reduce) + ``apply_gradients`` (NaN policy, optimizer, EMA). Subclasses change the loss by
overriding ``compute_loss``, the gradients by overriding ``compute_gradients`` (SAM:
``trainers/sam.py``) or ``train_step``, the update rule by overriding ``apply_gradients``, and
observe training in ``on_loop_end``; ``state_dict`` lists what a checkpoint holds.
"""
import logging
import time

import tensorflow as tf
import tf_keras

from tfcls.layers import noise
from trainers import accumulation, drop_path, preemption
from trainers.checkpointing import TrainerCheckpoints, checkpoint_meta, training_state
from trainers.config import TrainConfig
from trainers.evaluation import EvaluationMixin, label_ids, label_mask
from trainers.setup import build_ema, build_model, build_optimizer, current_learning_rate
from trainers.strategy import (default_jit_compile, distribute_training_data, is_chief,
                               num_workers)

log = logging.getLogger(__name__)
SUM = tf.distribute.ReduceOp.SUM


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class Trainer(EvaluationMixin):
    """Trains ``model`` as ``config`` says, on ``strategy``'s replicas.

    Args:
      model: a built ``ImageClassifier`` (or tf_keras model returning logits), or a callable
        returning one; a callable is built inside ``strategy.scope()`` under the config's
        precision policy.
      config: a ``TrainConfig``.
      strategy: a ``tf.distribute.Strategy`` (default: the current one, one device).
      class_names: saved with checkpoints for prediction.

    Training data for ``train`` is a ``tf.data.Dataset`` of ``(images, labels)`` global batches
    (float32 NHWC, int labels), or ``input_fn(start_step, input_context)`` returning one
    replica's batches from batch ``start_step`` on (exact resume with cheap skipping).
    """

    def __init__(self, model, config=None, strategy=None, class_names=None):
        self.config = (config or TrainConfig()).validate()
        self.strategy = strategy or tf.distribute.get_strategy()
        cfg = self.config
        replicas = self.strategy.num_replicas_in_sync
        if cfg.global_batch_size % (replicas * cfg.grad_accum_steps):
            raise ValueError(
                f"global_batch_size={cfg.global_batch_size} must be a multiple of the "
                f"{replicas} replica(s) x grad_accum_steps={cfg.grad_accum_steps}.")
        self.per_replica_batch = cfg.global_batch_size // replicas
        if cfg.seed is not None:
            tf_keras.utils.set_random_seed(cfg.seed)  # python, numpy and TF generators
        if cfg.deterministic:
            tf.config.experimental.enable_op_determinism()
        self.jit_compile = (default_jit_compile(self.strategy) if cfg.jit_compile is None
                            else bool(cfg.jit_compile))
        with self.strategy.scope():
            self.model = build_model(model, cfg.precision, self.strategy)
            self.drop_path_layers = drop_path.drop_path_layers(self.model)
            if cfg.drop_path_rate is not None:
                drop_path.set_drop_path_rate(self.model, cfg.drop_path_rate)
            self.optimizer = build_optimizer(cfg.optimizer, cfg.schedule, cfg.total_steps,
                                             cfg.precision, self.model)
            self.ema, self.ema_paths = build_ema(cfg, self.model)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="train_step",
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self.skipped_updates = tf.Variable(
                0, dtype=tf.int64, trainable=False, name="skipped_updates",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self.nonfinite_step = tf.Variable(
                -1, dtype=tf.int64, trainable=False, name="nonfinite_step",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self.nonfinite_kind = tf.Variable(  # 0: the loss, 1: gradients of a finite loss
                0, dtype=tf.int32, trainable=False, name="nonfinite_kind",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self.skipped_examples = tf.Variable(  # undecodable images since this process began
                0.0, trainable=False, name="skipped_examples",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self.train_loss = tf_keras.metrics.Mean("loss")
            self.train_accuracy = tf_keras.metrics.Mean("accuracy")
            self._build_eval_metrics()
        self.class_names = class_names
        self.checkpoints = None
        if cfg.model_dir:
            self.checkpoints = TrainerCheckpoints(
                self.state_dict(),
                checkpoint_meta(self.model, cfg, self.strategy, self.ema is not None, class_names),
                cfg.model_dir, cfg.keep_checkpoints, cfg.async_checkpoint, is_chief(self.strategy))
        self.history = []      # the logs dict of every loop, for launch/ and notebooks
        self.last_logs = {}
        self._loop_fn = None
        # TPUStrategy compiles all of strategy.run itself
        self._grad_fn = (tf.function(self.train_step, jit_compile=True)
                         if self.jit_compile and not _is_tpu(self.strategy) else self.train_step)
        self._fp16 = isinstance(self.optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
        self._workers = num_workers(self.strategy)

    def state_dict(self):
        """``{stable path: variable}`` of everything a checkpoint saves and a resume restores:
        model, optimizer slots, EMA, step. A subclass with state of its own adds it here."""
        return training_state(self.model, self.optimizer, self.ema, self.ema_paths,
                              {"step": self.step, "skipped_updates": self.skipped_updates})

    # ----------------------------------------------------------------- overridable hooks
    def compute_loss(self, images, labels, logits):
        """Per-example float32 loss of one (micro-)batch. Subclasses define it."""
        raise NotImplementedError("Trainer.compute_loss: use ClassificationTrainer or override.")

    def micro_step(self, images, labels):
        """Forward/backward of one micro-batch: ``(grads, stats)``, loss scaled by global batch."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            outputs = self.model(images, training=True)
            aux_outputs = ()
            if isinstance(outputs, (tuple, list)):  # auxiliary heads (Inception): main first
                outputs, aux_outputs = outputs[0], outputs[1:]
            logits = tf.cast(outputs, tf.float32)
            per_example = self.compute_loss(images, labels, logits)
            for weight, aux in zip(getattr(self.model, "aux_loss_weights", ()), aux_outputs):
                per_example += weight * self.compute_loss(images, labels, tf.cast(aux, tf.float32))
            mask = label_mask(labels)  # 0 for an image the input pipeline could not decode
            per_example *= mask
            loss = tf.reduce_sum(per_example) / self.config.global_batch_size
            if self.model.losses:  # regularizers: once per update, over replicas and micro-batches
                loss += tf.add_n(self.model.losses) / (
                    self.strategy.num_replicas_in_sync * self.config.grad_accum_steps)
            scaled = self.optimizer.get_scaled_loss(loss) if self._fp16 else loss
        grads = tape.gradient(scaled, variables)
        correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32),
                                   label_ids(labels)), tf.float32) * mask
        stats = {"loss_sum": tf.reduce_sum(per_example), "correct": tf.reduce_sum(correct),
                 "count": tf.reduce_sum(mask),
                 "skipped": tf.cast(tf.size(mask), tf.float32) - tf.reduce_sum(mask)}
        return grads, stats

    def train_step(self, images, labels, step):
        """One replica's gradients for update ``step`` (summed over ``grad_accum_steps``
        micro-batches, not yet all-reduced). Runs under XLA when ``jit_compile``; returns
        ``(grads, stats)``, stats the replica's sums (loss_sum, correct, count, skipped).
        """
        seed = noise.step_seed(self.config.seed, step)

        def micro_batch(images_i, labels_i, index):  # masks keyed by (seed, step, micro-batch)
            with noise.noise_seed(noise.fold_in(seed, index)):
                return self.micro_step(images_i, labels_i)

        return accumulation.accumulate_gradients(
            micro_batch, images, labels, self.config.grad_accum_steps,
            self.model.trainable_variables)

    def compute_gradients(self, images, labels, step):
        """Per replica: the gradients of update ``step`` on this replica's batch, all-reduced
        (every replica gets the sum over replicas; loss-scaled under mixed_float16), and this
        replica's stats. ``train_step`` runs XLA-compiled when ``jit_compile``; the all-reduce
        runs outside it. Override it to change where gradients are taken (``trainers/sam.py``).
        """
        grads, stats = self._grad_fn(images, labels, step)
        return tf.distribute.get_replica_context().all_reduce(SUM, grads), stats

    def on_loop_end(self, step, logs):
        """Called after every loop of ``steps_per_loop`` steps with that loop's metrics."""
        log.info("step %d/%d  loss %.4f  acc %.4f  lr %.3g  %.1f img/s", step,
                 self.config.total_steps, logs["loss"], logs["accuracy"], logs["lr"],
                 logs["images_per_sec"])

    def on_resume(self, step):
        """Called when ``train`` resumes from the checkpoint of ``step``."""
        log.info("Resumed from step %d.", step)

    def on_eval_end(self, step, logs):
        """Called after every evaluation with {top1, top5, loss}."""
        log.info("step %d  eval top1 %.4f  top5 %.4f  loss %.4f", step, logs["top1"],
                 logs["top5"], logs["loss"])

    # ------------------------------------------------------------------ distributed parts
    def _apply_update(self, grads, stats):
        """Per replica: the optimizer update with the all-reduced gradients, then the metrics."""
        if self._fp16:
            grads = self.optimizer.get_unscaled_gradients(grads)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables),
                                       skip_gradients_aggregation=True)
        count = stats["count"]
        self.train_loss.update_state(tf.math.divide_no_nan(stats["loss_sum"], count), count)
        self.train_accuracy.update_state(tf.math.divide_no_nan(stats["correct"], count), count)

    def _one_step(self, iterator):
        """Cross-replica: one update on the next batch; returns whether it was applied."""
        images, labels = next(iterator)
        return self.update(images, labels)

    def update(self, images, labels):
        """Cross-replica: one update on a (distributed) global batch; False after a non-finite
        loss or gradients. On a TPU, TPUStrategy runs its ``strategy.run`` parts as XLA programs;
        on one device ``tf.function(trainer.update, jit_compile=True)`` compiles all of it."""
        # the step as a value, not the variable: a compiled replica step may not read another
        # replica's variable (XLA keeps each program on its device)
        step = self.step.read_value()
        if self.config.drop_path_schedule != "constant":
            drop_path.set_drop_path_scale(self.drop_path_layers, drop_path.schedule_scale(
                self.config.drop_path_schedule, self.optimizer.iterations + 1,
                self.config.total_steps))
        grads, stats = self.strategy.run(self.compute_gradients, args=(images, labels, step))
        finite = self.apply_gradients(grads, stats, step)
        self.step.assign_add(1)
        return finite

    def apply_gradients(self, grads, stats, step):
        """Cross-replica: applies the all-reduced ``grads`` of update ``step`` (per-replica
        values, as ``compute_gradients`` returns them) unless they or the loss are non-finite;
        then the EMA. Returns False when the loss or gradients were non-finite.

        One rule for every skipped update (a non-finite loss or gradients under
        ``nan_policy="skip"``, or a float16 loss-scale overflow): no weight, optimizer slot or
        EMA changes, ``skipped_updates`` counts it, and the step and the schedules keyed to it
        (learning rate, drop path) advance as for any other batch.
        """
        reduce = lambda value: self.strategy.reduce(SUM, value, axis=None)  # noqa: E731
        self.skipped_examples.assign_add(reduce(stats["skipped"]))
        finite_loss = tf.math.is_finite(reduce(stats["loss_sum"]))
        # the same all-reduced gradients on every replica: each one's verdict is the same
        finite_grads = tf.equal(reduce(self.strategy.run(accumulation.all_finite, args=(grads,))),
                                float(self.strategy.num_replicas_in_sync))
        applied = tf.logical_and(finite_loss, finite_grads)
        if self._fp16:  # the loss-scale optimizer skips (and rescales) on non-finite gradients
            nonfinite = tf.logical_not(finite_loss)
            if finite_loss:
                self.strategy.run(self._apply_update, args=(grads, stats))
        else:
            nonfinite = tf.logical_not(applied)
            if applied:
                self.strategy.run(self._apply_update, args=(grads, stats))
            elif self.config.nan_policy == "skip":
                self.optimizer.iterations.assign_add(1)
        if applied:
            if self.ema is not None:
                self.ema.update(self.optimizer.iterations)
        else:
            self.skipped_updates.assign_add(1)
        if nonfinite and self.nonfinite_step < 0:
            self.nonfinite_step.assign(step + 1)
            self.nonfinite_kind.assign(tf.where(finite_loss, 1, 0))
        return tf.logical_not(nonfinite)

    def _train_loop(self, iterator, num_steps):
        """``num_steps`` updates in one call; stops early before a step once a stop is requested
        (a signal, a failed checkpoint write: ``preemption.StepStop``) and after a non-finite
        loss or gradients under "raise"."""
        stop_on_nan = self.config.nan_policy == "raise"
        for _ in tf.range(num_steps):
            if self._step_stop.requested():
                break
            finite = self._one_step(iterator)
            if stop_on_nan and not finite:
                break
        return self.step.read_value()

    # ---------------------------------------------------------------------- Python driver
    def train(self, train_data, eval_data=None, num_steps=None):
        """Trains to ``config.total_steps`` (resuming from ``model_dir``); returns the last logs.

        ``num_steps`` stops earlier, after that many steps (the schedules still span
        ``total_steps``); the state is checkpointed there. Loops end on every multiple of
        ``checkpoint_every`` and ``eval_every``, so saves and evaluations happen exactly there.
        SIGTERM/SIGINT stop the run at the next step with a checkpoint (``logs["stopped_by"]``
        names the signal, ``logs["checkpoint_step"]`` the complete checkpoint it left); the same
        call resumes it. A checkpoint that fails to write stops it too (CheckpointWriteError).
        """
        cfg = self.config
        start = self.checkpoints.restore_latest() if self.checkpoints else None
        if start is not None:
            self.on_resume(start)
        start = int(self.step.numpy()) if start is None else start
        self.nonfinite_step.assign(-1)
        end = cfg.total_steps if num_steps is None else min(cfg.total_steps, start + num_steps)
        if start >= end:
            return self._already_trained(start, eval_data)
        iterator = iter(distribute_training_data(self.strategy, train_data, start,
                                                 cfg.global_batch_size))
        if self._loop_fn is None:
            self._step_stop = preemption.StepStop(self.strategy, self._workers)
            self._loop_fn = tf.function(self._train_loop)
        self._step_stop.reset()
        step = start
        with preemption.stop_on_signals(coordinated=self._workers > 1,
                                        on_signal=self._step_stop.signal_received) as stop:
            try:
                while step < end and not stop:
                    step = self._run_loop(iterator, self._next_loop_length(step, end), step)
                    votes = self._step_stop.vote_counts()
                    if votes[preemption.StepStop.SAVE_FAILED]:  # here or on the chief
                        self.checkpoints.raise_write_failure()
                    if self._workers > 1:  # a signal to any worker stops all at this step
                        stop.agree(votes)
                    if stop and step < end:  # preempted: save now, evaluate when resumed
                        if self.checkpoints:
                            self.checkpoints.save(step)
                    else:
                        self._maybe_evaluate_and_save(step, eval_data, last=step >= end)
            finally:
                if self.checkpoints:
                    self.checkpoints.manager.wait()
            if stop:  # the save above is complete: the checkpoint of this step is on disk
                self.last_logs.update(
                    step=step, stopped_by=stop.signal_name, stopped_here=stop.received_here,
                    checkpoint_step=self.checkpoints.last_saved_step if self.checkpoints else None)
        return self.last_logs

    def _next_loop_length(self, step, end):
        """Steps of the next loop: ``steps_per_loop``, cut to end on the next multiple of
        ``checkpoint_every`` / ``eval_every`` and at ``end``."""
        length = min(self.config.steps_per_loop, end - step)
        for every in (self.config.checkpoint_every if self.checkpoints else 0,
                      self.config.eval_every):
            if every:
                length = min(length, every - step % every)
        return length

    def _already_trained(self, step, eval_data):
        """A rerun of a finished run: its final metrics, from the checkpoint or evaluated."""
        metrics = self.checkpoints.saved_metrics(step) if self.checkpoints else None
        if not metrics and eval_data is not None:
            metrics = self.evaluate(eval_data)
        self.last_logs = {"step": step, "already_trained": True,
                          **{f"val_{k}": v for k, v in (metrics or {}).items()}}
        return self.last_logs

    def _run_loop(self, iterator, num_steps, start):
        self.train_loss.reset_state()
        self.train_accuracy.reset_state()
        step, timed_steps, seconds = self._timed_loop(iterator, num_steps, start)
        bad = int(self.nonfinite_step.numpy())
        if bad >= 0 and self.config.nan_policy == "raise":
            last = self.checkpoints.last_saved_step if self.checkpoints else None
            what = "gradients (of a finite loss)" if int(self.nonfinite_kind.numpy()) else "loss"
            raise NonFiniteLossError(
                f"Non-finite {what} at step {bad}; training stopped and that update was not "
                f"applied. Last checkpoint: step {last}. Lower the learning rate, clip gradients "
                f"(clip_grad_norm), or set nan_policy='skip' to drop such updates.")
        if step == start:  # stopped before its first step
            return step
        per_second = timed_steps / seconds if timed_steps else float("nan")
        logs = {"step": step, "loss": float(self.train_loss.result()),
                "accuracy": float(self.train_accuracy.result()),
                "lr": current_learning_rate(self.optimizer, last_used=True),
                "images_per_sec": per_second * self.config.global_batch_size,
                "steps_per_sec": per_second,
                "skipped_updates": int(self.skipped_updates.numpy()),
                "skipped_examples": int(self.skipped_examples.numpy())}
        self.last_logs = logs
        self.history.append(logs)
        self.on_loop_end(step, logs)
        return step

    def _timed_loop(self, iterator, num_steps, start):
        """``_loop_fn`` in a helper thread (``preemption.run_while_watching``): ``(step, steps
        timed, seconds)``. A first call (tracing) runs one step alone: throughput counts from
        the first finished step."""
        def watch():  # a failed background checkpoint write stops the loop at the next step
            if self.checkpoints is not None and self.checkpoints.manager.write_failed():
                self._step_stop.save_failed()

        def run(steps):
            return int(preemption.run_while_watching(
                lambda: self._loop_fn(iterator, tf.constant(steps, tf.int32)).numpy(), watch))

        step = start
        if self._loop_fn.experimental_get_tracing_count() == 0 and num_steps > 1:
            step = run(1)
            num_steps -= 1
            if self.config.nan_policy == "raise" and int(self.nonfinite_step.numpy()) >= 0:
                return step, 0, 0.0
        began = time.perf_counter()
        timed_from, step = step, run(num_steps)
        return step, step - timed_from, time.perf_counter() - began

    def _maybe_evaluate_and_save(self, step, eval_data, last):
        cfg = self.config
        due = lambda every: bool(every) and step % every == 0  # noqa: E731  (loops end there)
        metrics = None
        if eval_data is not None and (last or due(cfg.eval_every)):
            metrics = self.evaluate(eval_data)
            self.last_logs.update({f"val_{k}": v for k, v in metrics.items()})
            self.on_eval_end(step, metrics)
        if self.checkpoints and (last or metrics or due(cfg.checkpoint_every)):
            self.checkpoints.save(step, metrics)


def _is_tpu(strategy):
    return isinstance(strategy, tf.distribute.TPUStrategy)
