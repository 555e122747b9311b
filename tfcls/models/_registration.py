"""The variant row every family writes, and the table ``register_family`` fills (read it through
``tfcls.registry.model_entry`` / ``model_entries``)."""
import dataclasses

from tfcls.models.base import IMAGENET_CFG

_ENTRIES = {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Variant:
    """One registered variant of a family: everything about it but its name (the table's key).

    Fields:
      params: trainable parameters with a 1000-class classifier, equal to the reference's.
      reference: the implementation it equals (default: its keras twin, with keras_kwargs).
      arch: the family class's architecture arguments (``create_model`` overrides update them).
      resolution: default input side; min_resolution: the smallest side the architecture accepts.
      pretrained_cfg: the input the model expects (mean/std on [0, 1] pixels in ``channel_order``,
        crop_pct), over ``IMAGENET_CFG``; ``input_size`` comes from the size it is built at.
      keras_twin, keras_kwargs: the tf_keras.applications class (and its arguments) whose weights
        port one to one; keras_preprocessing: the input those weights expect.
      timm_twin ("timm/dpn92.mx_in1k"), torchvision_twin ("resnet18.IMAGENET1K_V1"): the timm /
        torchvision weights that map one to one.
    """
    params: int
    reference: str = None
    arch: dict = dataclasses.field(default_factory=dict)
    resolution: int = 224
    min_resolution: int = 32
    pretrained_cfg: dict = dataclasses.field(default_factory=dict)
    keras_twin: str = None
    keras_kwargs: dict = dataclasses.field(default_factory=dict)
    keras_preprocessing: dict = None
    timm_twin: str = None
    torchvision_twin: str = None

    def __post_init__(self):
        if self.keras_twin and self.keras_preprocessing is None:
            raise ValueError(f"Keras twin {self.keras_twin}: give keras_preprocessing (its input).")
        if self.reference is None:
            if not self.keras_twin:
                raise ValueError("A variant needs a reference (or a keras twin).")
            arguments = ", ".join(f"{k}={v!r}" for k, v in self.keras_kwargs.items())
            object.__setattr__(self, "reference", f"tf_keras.applications.{self.keras_twin}"
                                                  + (f"({arguments})" if arguments else ""))
        object.__setattr__(self, "pretrained_cfg", {**IMAGENET_CFG, **self.pretrained_cfg})



def torchvision_variant(builder, params, timm_tag=None, **row):
    """A row equal to ``torchvision.models.<builder>``, with its IMAGENET1K_V1 weights (and timm's
    copy of them, ``timm/<builder>.<timm_tag>``, when timm has one)."""
    timm_twin = f"timm/{builder}.{timm_tag}" if timm_tag else None
    return Variant(params=params, reference=f"torchvision.models.{builder}", timm_twin=timm_twin,
                   torchvision_twin=f"{builder} IMAGENET1K_V1", **row)

@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """A registered variant: its name, family, paper, the family's model class and its row."""
    name: str
    family: str
    paper: str
    model_class: type
    variant: Variant

    def instantiate(self, **kwargs):
        """The model (variables not built yet) from the row's ``arch`` updated by ``kwargs``, its
        ``pretrained_cfg`` and minimum input size read from the row."""
        row = self.variant
        model = self.model_class(**{**row.arch, **kwargs}, name=self.name)
        model.pretrained_cfg = {**row.pretrained_cfg, "input_size": row.resolution,
                                "architecture": self.name}
        model.min_input_size = max(model.min_input_size, row.min_resolution)
        return model


def register_family(family, paper, model_class, variants):
    """Registers each ``name: Variant`` row of ``variants`` as a model built by ``model_class``."""
    for name, variant in variants.items():
        if name in _ENTRIES:
            raise ValueError(f"Model {name!r} is registered twice.")
        if not isinstance(variant, Variant):
            raise TypeError(f"{family} {name}: a row must be a Variant, got {type(variant)}.")
        _ENTRIES[name] = ModelEntry(name, family, paper, model_class, variant)


def all_entries():
    """Every registered entry by canonical name, family by family in registration order."""
    return dict(_ENTRIES)
