"""Per-channel learnable scaling of a residual branch (Touvron et al., 2021, "Going deeper with
Image Transformers", CaiT), as ConvNeXt (Liu et al., 2022) uses it."""
import tf_keras


class LayerScale(tf_keras.layers.Layer):
    """``x * gamma`` with ``gamma`` a per-channel (last axis) weight initialized to
    ``init_value`` (1e-6 in ConvNeXt)."""

    def __init__(self, init_value=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.init_value = float(init_value)

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(int(input_shape[-1]),),
                                     initializer=tf_keras.initializers.Constant(self.init_value),
                                     trainable=True)
        super().build(input_shape)

    def call(self, x):
        return x * self.gamma

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value}
