"""Knowledge distillation (Hinton et al., 2015, "Distilling the Knowledge in a Neural Network").

An example of changing the loss by overriding one method: the student learns from
``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * cross-entropy(labels)``, with both
distributions softened by temperature ``T``.
"""
import tensorflow as tf

from trainers.classification import ClassificationTrainer


def distillation_loss(student_logits, teacher_logits, temperature):
    """Per-example ``T^2 * KL(softmax(teacher / T) || softmax(student / T))``."""
    teacher = tf.nn.softmax(tf.cast(teacher_logits, tf.float32) / temperature, axis=-1)
    log_teacher = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float32) / temperature, axis=-1)
    log_student = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / temperature, axis=-1)
    return temperature ** 2 * tf.reduce_sum(teacher * (log_teacher - log_student), axis=-1)


class DistillationTrainer(ClassificationTrainer):
    """Trains the model (the student) to match a frozen ``teacher`` as well as the labels.

    Args:
      teacher: a built model (or callable building one, made inside the strategy scope) with
        the student's classes; run in inference mode and never updated.
      alpha: weight of the distillation term (1 - alpha goes to the label loss).
      temperature: softening temperature T.
      Other arguments as ``Trainer``.
    """

    def __init__(self, model, teacher, config=None, strategy=None, alpha=0.5, temperature=4.0,
                 **kwargs):
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        self.alpha, self.temperature = float(alpha), float(temperature)
        strategy = strategy or tf.distribute.get_strategy()
        with strategy.scope():
            self.teacher = teacher() if not hasattr(teacher, "variables") else teacher
        self.teacher.trainable = False
        super().__init__(model, config, strategy, **kwargs)

    def compute_loss(self, images, labels, logits):
        teacher_logits = tf.stop_gradient(self.teacher(images, training=False))
        if teacher_logits.shape[-1] != logits.shape[-1]:
            raise ValueError(f"Teacher has {teacher_logits.shape[-1]} classes, the student "
                             f"{logits.shape[-1]}.")
        hard = super().compute_loss(images, labels, logits)
        soft = distillation_loss(logits, teacher_logits, self.temperature)
        return self.alpha * soft + (1.0 - self.alpha) * hard
