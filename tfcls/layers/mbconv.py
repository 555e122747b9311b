"""The depthwise-separable line of blocks: depthwise-separable conv (Howard et al., 2017,
"MobileNets"), inverted residual / MBConv (Sandler et al., 2018, "MobileNetV2"; Tan & Le, 2019,
"EfficientNet") and fused MBConv (Tan & Le, 2021, "EfficientNetV2").

The blocks know no family: widths (expanded, squeeze-excite) come in already rounded, and every
conv is a ``ConvNormAct`` named by its role (``expand``, ``depthwise``, ``se``, ``project``).
"""
import tf_keras

from tfcls.layers.conv import ConvNormAct
from tfcls.layers.drop_path import DropPath
from tfcls.layers.squeeze_excite import SqueezeExcite

# EfficientNet's conv init (keras.applications / the TF reference): He, fan-out, truncated normal.
FAN_OUT_INIT = {"class_name": "VarianceScaling",
                "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}


class _MBBlock(tf_keras.layers.Layer):
    """Shared plumbing: conv factory (norm settings, padding, init), SE, residual + drop path."""

    def __init__(self, in_width, out_width, strides=1, se_width=0, act="relu", se_act="relu",
                 se_gate="sigmoid", residual=True, drop_path_rate=0.0, norm_eps=1e-3,
                 norm_momentum=0.99, conv_init=None, **kwargs):
        super().__init__(**kwargs)
        self.in_width, self.out_width, self.strides = int(in_width), int(out_width), int(strides)
        self.se_width, self.act, self.se_act, self.se_gate = int(se_width), act, se_act, se_gate
        self.residual, self.drop_path_rate = residual, float(drop_path_rate)
        self.norm_eps, self.norm_momentum, self.conv_init = norm_eps, norm_momentum, conv_init
        self.has_skip = residual and strides == 1 and in_width == out_width
        self.drop_path = DropPath(drop_path_rate, name="drop_path") if self.has_skip else None

    def _conv(self, filters, kernel_size, name, strides=1, act=None, depthwise=False,
              padding="same"):
        layer = ConvNormAct(filters, kernel_size, strides, padding=padding, depthwise=depthwise,
                            act=act, norm_eps=self.norm_eps, norm_momentum=self.norm_momentum,
                            name=name)
        if self.conv_init is not None:
            init = tf_keras.initializers.get(self.conv_init)
            if depthwise:
                layer.conv.depthwise_initializer = init
            else:
                layer.conv.kernel_initializer = init
        return layer

    def _squeeze_excite(self):
        if self.se_width <= 0:
            return None
        return SqueezeExcite(self.se_width, act=self.se_act, gate=self.se_gate,
                             conv_init=self.conv_init, name="se")

    def _finish(self, x, shortcut, training):
        if self.has_skip:
            x = self.drop_path(x, training=training) + shortcut
        return x

    def get_config(self):
        return {**super().get_config(), "in_width": self.in_width, "out_width": self.out_width,
                "strides": self.strides, "se_width": self.se_width, "act": self.act,
                "se_act": self.se_act, "se_gate": self.se_gate, "residual": self.residual,
                "drop_path_rate": self.drop_path_rate, "norm_eps": self.norm_eps,
                "norm_momentum": self.norm_momentum, "conv_init": self.conv_init}


class DepthwiseSeparableConv(_MBBlock):
    """Depthwise kxk conv -> BN -> act -> [SE] -> pointwise 1x1 conv -> BN -> [act]
    (MobileNet v1's unit; ``pw_act=False`` gives the linear projection of MnasNet's first block).

    ``stride2_padding="bottom_right"`` pads one pixel at the bottom and right before a stride-2
    depthwise conv whatever the input size (keras.applications.MobileNet); "same" is TF's.
    """

    def __init__(self, in_width, out_width, kernel_size=3, strides=1, pw_act=True,
                 stride2_padding="same", **kwargs):
        super().__init__(in_width, out_width, strides, **kwargs)
        if stride2_padding not in ("same", "bottom_right"):
            raise ValueError(f"stride2_padding must be 'same' or 'bottom_right', "
                             f"got {stride2_padding!r}.")
        self.kernel_size, self.pw_act, self.stride2_padding = kernel_size, pw_act, stride2_padding
        bottom_right = strides > 1 and stride2_padding == "bottom_right"
        self.pad = (tf_keras.layers.ZeroPadding2D(((0, kernel_size - 2), (0, kernel_size - 2)),
                                                  name="pad") if bottom_right else None)
        self.depthwise = self._conv(in_width, kernel_size, "depthwise", strides, self.act, True,
                                    padding="valid" if bottom_right else "same")
        self.se = self._squeeze_excite()
        self.project = self._conv(out_width, 1, "project", act=self.act if pw_act else None)

    def call(self, x, training=None):
        shortcut = x
        if self.pad is not None:
            x = self.pad(x)
        x = self.depthwise(x, training=training)
        if self.se is not None:
            x = self.se(x)
        x = self.project(x, training=training)
        return self._finish(x, shortcut, training)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "pw_act": self.pw_act,
                "stride2_padding": self.stride2_padding}


class InvertedResidual(_MBBlock):
    """MBConv: [1x1 expand -> BN -> act] -> depthwise kxk (stride) -> BN -> act -> [SE] ->
    1x1 linear projection -> BN, plus the input (through DropPath) when the stride is 1 and the
    widths agree. ``expanded_width=None`` skips the expansion (expansion ratio 1)."""

    def __init__(self, in_width, out_width, expanded_width=None, kernel_size=3, strides=1,
                 **kwargs):
        super().__init__(in_width, out_width, strides, **kwargs)
        self.expanded_width, self.kernel_size = expanded_width, kernel_size
        mid = expanded_width or in_width
        self.expand = (self._conv(expanded_width, 1, "expand", act=self.act)
                       if expanded_width else None)
        self.depthwise = self._conv(mid, kernel_size, "depthwise", strides, self.act, True)
        self.se = self._squeeze_excite()
        self.project = self._conv(out_width, 1, "project")

    def call(self, x, training=None):
        shortcut = x
        if self.expand is not None:
            x = self.expand(x, training=training)
        x = self.depthwise(x, training=training)
        if self.se is not None:
            x = self.se(x)
        x = self.project(x, training=training)
        return self._finish(x, shortcut, training)

    def get_config(self):
        return {**super().get_config(), "expanded_width": self.expanded_width,
                "kernel_size": self.kernel_size}


class FusedMBConv(_MBBlock):
    """Fused MBConv: kxk conv (stride) expanding -> BN -> act -> [SE] -> 1x1 projection -> BN,
    plus the residual as in MBConv. Without expansion (``expanded_width=None``) the block is one
    kxk conv -> BN -> act, named ``project`` as in keras."""

    def __init__(self, in_width, out_width, expanded_width=None, kernel_size=3, strides=1,
                 **kwargs):
        super().__init__(in_width, out_width, strides, **kwargs)
        self.expanded_width, self.kernel_size = expanded_width, kernel_size
        if expanded_width:
            self.expand = self._conv(expanded_width, kernel_size, "expand", strides, self.act)
            self.se = self._squeeze_excite()
            self.project = self._conv(out_width, 1, "project")
        else:
            self.expand = None
            self.se = self._squeeze_excite()
            self.project = self._conv(out_width, kernel_size, "project", strides, self.act)

    def call(self, x, training=None):
        shortcut = x
        if self.expand is not None:
            x = self.expand(x, training=training)
        if self.se is not None:
            x = self.se(x)
        x = self.project(x, training=training)
        return self._finish(x, shortcut, training)

    def get_config(self):
        return {**super().get_config(), "expanded_width": self.expanded_width,
                "kernel_size": self.kernel_size}
