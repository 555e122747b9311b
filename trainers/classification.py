"""Supervised image classification: softmax cross-entropy with label smoothing."""
from tfcls.optim import classification_loss
from trainers.base import Trainer


class ClassificationTrainer(Trainer):
    """Trains on (images, labels) with cross-entropy; labels are class ids or dense targets."""

    def compute_loss(self, images, labels, logits):
        return classification_loss(labels, logits, num_classes=logits.shape[-1],
                                   label_smoothing=self.config.label_smoothing)
