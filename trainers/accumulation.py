"""Gradient accumulation inside one step: micro-batches run one after another in a while loop.

Each replica splits its batch into N micro-batches and runs forward/backward on them in a
``tf.while_loop`` (activation memory is that of one micro-batch), summing the gradients in the
loop's carried tensors. No accumulator variables persist across steps (a known source of bugs
under tf.distribute): the summed gradients leave the step, are all-reduced and applied once.
Batch norm normalizes with micro-batch statistics.
"""
import tensorflow as tf


def dense_gradients(grads, variables):
    """Gradients as dense float32 tensors (zeros for variables the loss does not touch)."""
    out = []
    for grad, var in zip(grads, variables):
        if grad is None:
            grad = tf.zeros(var.shape, tf.float32)
        elif isinstance(grad, tf.IndexedSlices):
            grad = tf.convert_to_tensor(grad)
        out.append(tf.cast(grad, tf.float32))
    return out


def all_finite(grads):
    """1.0 when every gradient is finite, else 0.0."""
    return tf.cast(tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads]),
                   tf.float32)


def split_micro_batches(tensor, num_micro):
    """``[N * m, ...]`` -> ``[N, m, ...]``, keeping the static shape of the rest."""
    shape = tensor.shape
    if shape[0] is not None and shape[0] % num_micro:
        raise ValueError(f"A replica's batch of {shape[0]} does not split into {num_micro} "
                         f"micro-batches: make the per-replica batch a multiple of "
                         f"grad_accum_steps.")
    rest = tf.shape(tensor)[1:]
    micro = shape[0] // num_micro if shape[0] is not None else -1
    out = tf.reshape(tensor, tf.concat([[num_micro, micro], rest], axis=0))
    return tf.ensure_shape(out, [num_micro, micro if micro != -1 else None] + shape[1:].as_list())


def accumulate_gradients(grad_fn, images, labels, num_micro, variables):
    """Sums ``grad_fn(images_i, labels_i, i) -> (grads, stats)`` over ``num_micro``
    micro-batches (``i`` the micro-batch's index, an int32 tensor).

    ``stats`` is a dict of scalars that are summed too (loss sums, correct counts).
    Returns ``(summed grads, summed stats)``. With ``num_micro == 1`` no loop is built.
    """
    if num_micro == 1:
        grads, stats = grad_fn(images, labels, tf.constant(0))
        return dense_gradients(grads, variables), stats
    micro_images = split_micro_batches(images, num_micro)
    micro_labels = split_micro_batches(labels, num_micro)

    def body(i, grad_sums, stat_sums):
        grads, stats = grad_fn(micro_images[i], micro_labels[i], i)
        grad_sums = [a + g for a, g in zip(grad_sums, dense_gradients(grads, variables))]
        stat_sums = {k: stat_sums[k] + tf.cast(stats[k], tf.float32) for k in stat_sums}
        return i + 1, grad_sums, stat_sums

    # The first micro-batch runs before the loop; its results seed the loop's carried sums.
    grads, stats = grad_fn(micro_images[0], micro_labels[0], tf.constant(0))
    grads = dense_gradients(grads, variables)
    stats = {k: tf.cast(v, tf.float32) for k, v in stats.items()}
    _, grads, stats = tf.while_loop(lambda i, *_: i < num_micro, body,
                                    (tf.constant(1), grads, stats), parallel_iterations=1)
    return grads, stats
