"""Evaluation for the trainer: top-1/top-5 accuracy and cross-entropy, with the EMA weights."""
import tensorflow as tf

from tfcls.optim import classification_loss

SUM = tf.distribute.ReduceOp.SUM


def label_ids(labels):
    """Class ids from integer labels ([B] or [B, 1]) or dense targets ([B, C])."""
    if labels.dtype.is_integer:
        return tf.cast(tf.reshape(labels, [-1]), tf.int32)
    return tf.argmax(labels, axis=-1, output_type=tf.int32)


def label_mask(labels):
    """1.0 for labelled examples, 0.0 for the placeholders an input pipeline puts where an image
    failed to decode (class id -1, or an all-zero target row), so a bad image adds nothing to
    the loss or the metrics and shifts no later batch."""
    if labels.dtype.is_integer:
        return tf.cast(label_ids(labels) >= 0, tf.float32)
    return tf.cast(tf.reduce_sum(tf.cast(labels, tf.float32), axis=-1) > 0, tf.float32)


class EvaluationMixin:
    """``evaluate(dataset)`` and the per-replica ``eval_step`` of the Trainer."""

    def _build_eval_metrics(self):
        self._eval_fn = None

    def eval_step(self, images, labels):
        """One replica's sums over a batch: loss, top-1 and top-5 hits, and the count."""
        logits = tf.cast(self.model(images, training=False), tf.float32)
        ids, mask = label_ids(labels), label_mask(labels)
        num_classes = logits.shape[-1]
        loss = classification_loss(labels, logits, num_classes=num_classes)
        top1 = tf.cast(tf.math.in_top_k(tf.maximum(ids, 0), logits, 1), tf.float32)
        top5 = tf.cast(tf.math.in_top_k(tf.maximum(ids, 0), logits, min(5, num_classes)),
                       tf.float32)
        return {"loss": tf.reduce_sum(loss * mask), "top1": tf.reduce_sum(top1 * mask),
                "top5": tf.reduce_sum(top5 * mask), "count": tf.reduce_sum(mask)}

    def _eval_loop(self, iterator):
        totals = {k: tf.constant(0.0) for k in ("loss", "top1", "top5", "count")}
        for images, labels in iterator:
            sums = self.strategy.run(self.eval_step, args=(images, labels))
            totals = {k: totals[k] + self.strategy.reduce(SUM, sums[k], axis=None)
                      for k in totals}
        return totals

    def evaluate(self, dataset, use_ema=True):
        """``{"top1", "top5", "loss"}`` over one pass of ``dataset`` (batches of images, labels).

        Uses the EMA weights when the trainer keeps an EMA (and ``use_ema``). The loss is the
        plain cross-entropy, whatever the training loss.
        """
        if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise ValueError("The evaluation dataset is infinite (repeated): pass one pass of it.")
        if self._eval_fn is None:
            self._eval_fn = tf.function(self._eval_loop)
        data = self.strategy.experimental_distribute_dataset(dataset)
        if self.ema is not None and use_ema:
            with self.ema.average_weights():
                totals = self._eval_fn(iter(data))
        else:
            totals = self._eval_fn(iter(data))
        count = float(totals["count"])
        if count == 0:
            raise ValueError("The evaluation dataset is empty (or none of its images decoded).")
        return {k: float(totals[k]) / count for k in ("top1", "top5", "loss")}

