"""Classification loss: softmax cross-entropy with label smoothing (Szegedy et al., 2016,
"Rethinking the Inception Architecture"), on class ids or on dense (e.g. mixup) targets."""
import tensorflow as tf


def classification_loss(labels, logits, *, num_classes, label_smoothing=0.0):
    """Per-example softmax cross-entropy, float32 whatever the logits dtype.

    Args:
      labels: integer class ids of shape [B], or dense targets of shape [B, C] (one-hot or soft,
        e.g. from mixup/cutmix; each row summing to 1).
      logits: [B, C] logits.
      num_classes: C; checked against the logits.
      label_smoothing: eps in [0, 1): targets become ``(1 - eps) * targets + eps / C``.

    Returns:
      A float32 tensor of shape [B]. Average it yourself (e.g. divide the sum by the global batch
      size under a distribution strategy).
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
    logits = tf.cast(logits, tf.float32)
    if logits.shape.rank != 2 or (logits.shape[-1] is not None and logits.shape[-1] != num_classes):
        raise ValueError(f"Expected logits of shape [batch, {num_classes}], got {logits.shape}.")
    targets = _dense_targets(labels, num_classes)
    if label_smoothing:
        targets = targets * (1.0 - label_smoothing) + label_smoothing / num_classes
    return -tf.reduce_sum(targets * tf.nn.log_softmax(logits, axis=-1), axis=-1)


def _dense_targets(labels, num_classes):
    labels = tf.convert_to_tensor(labels)
    if labels.dtype.is_integer:
        if labels.shape.rank == 2 and labels.shape[-1] == 1:
            labels = tf.squeeze(labels, axis=-1)
        if labels.shape.rank != 1:
            raise ValueError(f"Integer labels must be class ids of shape [batch], got "
                             f"{labels.shape}.")
        return tf.one_hot(labels, num_classes, dtype=tf.float32)
    if labels.shape.rank != 2 or (labels.shape[-1] is not None and labels.shape[-1] != num_classes):
        raise ValueError(f"Float labels must be dense targets of shape [batch, {num_classes}], got "
                         f"{labels.shape}; pass integer class ids otherwise.")
    return tf.cast(labels, tf.float32)
