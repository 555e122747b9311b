"""Decoupled weight decay that skips biases and normalization parameters.

Decoupled weight decay (Loshchilov & Hutter, 2019, "Decoupled Weight Decay Regularization") shrinks
each decayed variable by ``learning_rate * weight_decay * variable`` at every step, apart from the
gradient update. As in timm, variables of rank <= 1 (biases, BatchNorm/LayerNorm scales and
offsets) get no decay; kernels and embeddings (rank >= 2) do. The rule looks at shapes, not
names, so it holds whatever the layers call their variables.
"""


def uses_weight_decay(variable):
    """True if ``variable`` should be decayed: it has rank >= 2 (a kernel, not a bias or norm)."""
    rank = variable.shape.rank
    if rank is None:
        raise ValueError(
            f"Cannot decide weight decay for variable {variable.name!r} of unknown rank; "
            "build the model (call it on an input) before training it.")
    return rank > 1


def decay_mask(variables):
    """A list of booleans, one per variable: which ones decoupled weight decay applies to."""
    return [uses_weight_decay(v) for v in variables]


def weight_decay_is_off(weight_decay):
    """True when an optimizer's ``weight_decay`` setting (None or a number) means no decay."""
    return weight_decay is None or (isinstance(weight_decay, (int, float)) and weight_decay == 0)


class RankMaskedWeightDecay:
    """Mixin for ``tf_keras.optimizers.Optimizer`` subclasses: decoupled decay of rank >= 2 only.

    tf_keras' own ``weight_decay`` decays every variable unless it is excluded by name pattern or
    by an explicit ``exclude_from_weight_decay(var_list=...)`` call. This mixin adds the rank
    rule on top (explicit exclusions still work) and skips the decay ops when the rate is 0.
    Put it first in the bases: ``class SGD(RankMaskedWeightDecay, tf_keras.optimizers.SGD)``.
    """

    def _use_weight_decay(self, variable):
        return uses_weight_decay(variable) and super()._use_weight_decay(variable)

    def _apply_weight_decay(self, variables):
        if weight_decay_is_off(self.weight_decay):
            return
        super()._apply_weight_decay(variables)
