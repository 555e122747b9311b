"""The table of model entry points that each family module fills with ``@register``."""
import dataclasses

_ENTRIES = {}


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


def registrar(family, paper):
    """Returns the decorator that registers the variants of one family.

    Usage, once per public variant::

        register = registrar("ResNet", "He et al., 2015, Deep Residual Learning ...")

        @register(params=25_583_592, reference="tf_keras.applications.ResNet50", keras="ResNet50")
        def resnet50(**kwargs): ...
    """

    def register(*, params, reference, resolution=224, keras=None):
        def decorate(fn):
            if fn.__name__ in _ENTRIES:
                raise ValueError(f"Model {fn.__name__!r} is registered twice.")
            _ENTRIES[fn.__name__] = ModelEntry(fn.__name__, fn, family, paper, reference, params,
                                               resolution, keras)
            return fn
        return decorate

    return register


def entries():
    return dict(_ENTRIES)
