"""Model families. Importing this package registers every variant."""
from tfcls.models.base import ImageClassifier  # noqa: F401
from tfcls.models import resnet, vgg  # noqa: F401
