"""The step every benchmark times: forward in training mode, cross-entropy, the gradients of every
trainable variable; no optimizer update, no input pipeline."""
import tensorflow as tf


def forward_backward_step(model, images, labels):
    """A ``tf.function`` running one forward+backward step of ``model`` on the constant batch;
    it returns a scalar of the gradients, to wait on."""
    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = tf.cast(model(images, training=True), tf.float32)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        grads = tape.gradient(loss, model.trainable_variables)
        return tf.add_n([tf.reduce_sum(tf.cast(g, tf.float32)) for g in grads])

    return step
