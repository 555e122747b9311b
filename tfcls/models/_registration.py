"""The table of model entry points that each family module fills with ``register``."""
import dataclasses

_ENTRIES = {}

# keras.applications input conventions, as mean/std on [0, 1] pixels listed in the model's channel
# order (see tfcls.models.base). "caffe": BGR with ImageNet's mean subtracted, no scaling; "tf":
# [-1, 1]; "torch": ImageNet mean/std (what keras' EfficientNet/ConvNeXt do inside the model).
CAFFE_PREPROCESSING = {"mean": (103.939 / 255, 116.779 / 255, 123.68 / 255),
                       "std": (1 / 255, 1 / 255, 1 / 255), "channel_order": "BGR"}
TF_PREPROCESSING = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "channel_order": "RGB"}
TORCH_PREPROCESSING = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
                       "channel_order": "RGB"}


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    name: str
    fn: object
    family: str
    paper: str
    reference: str
    params: int
    default_resolution: int
    keras_application: str = None  # tf_keras.applications class whose weights port one to one
    keras_preprocessing: dict = None  # the input those keras weights expect (a dict above)
    min_resolution: int = 32  # smallest input side the architecture accepts
    keras_kwargs: dict = None  # arguments of the keras twin, e.g. {"alpha": 0.5}


def registrar(family, paper):
    """Returns the ``register`` of one family. Either as a decorator, once per variant::

        register = registrar("ResNet", "He et al., 2015, Deep Residual Learning ...")

        @register(params=25_583_592, reference="tf_keras.applications.ResNet50", keras="ResNet50",
                  keras_preprocessing=CAFFE_PREPROCESSING)
        def resnet50(**kwargs): ...

    or from a family's variant table, one call per row::

        register.variant("mobilenet_v2_100", functools.partial(MobileNetV2, alpha=1.0),
                         params=3_504_872, reference="tf_keras.applications.MobileNetV2")

    where the builder takes the ``create_model`` arguments (num_classes, drop_path_rate,
    features_only, overrides) and ``name``.
    """

    def register(*, params, reference, resolution=224, keras=None, keras_preprocessing=None,
                 min_resolution=32, keras_kwargs=None):
        if keras and keras_preprocessing is None:
            raise ValueError(f"{family}: a keras twin needs keras_preprocessing (its input).")

        def decorate(fn):
            if fn.__name__ in _ENTRIES:
                raise ValueError(f"Model {fn.__name__!r} is registered twice.")
            _ENTRIES[fn.__name__] = ModelEntry(fn.__name__, fn, family, paper, reference, params,
                                               resolution, keras, keras_preprocessing,
                                               min_resolution, dict(keras_kwargs or {}))
            return fn
        return decorate

    def variant(name, build, **entry):
        def create(**kwargs):
            return build(name=name, **kwargs)

        create.__name__ = create.__qualname__ = name
        create.__doc__ = f"{family} variant {name}."
        return register(**entry)(create)

    register.variant = variant
    return register


def entries():
    return dict(_ENTRIES)
