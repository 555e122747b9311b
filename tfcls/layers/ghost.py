"""Ghost module and Ghost bottleneck (Han et al., 2020, "GhostNet: More Features from Cheap
Operations").

A Ghost module makes ``ceil(out / ratio)`` "intrinsic" maps with an ordinary convolution and the
rest ("ghosts") from them with a cheap depthwise convolution; the two are concatenated and cut to
``out`` channels. The blocks know no family: widths (expanded, squeeze-excite) come in already
rounded. Layout and padding follow PyTorch (``k // 2`` on both sides), as the official code and
timm do; batch norm keeps PyTorch's epsilon 1e-5 and momentum 0.1 (keras' 0.9).
"""
import math

import tensorflow as tf
import tf_keras

from tfcls.layers.conv import ConvNormAct
from tfcls.layers.drop_path import DropPath
from tfcls.layers.squeeze_excite import SqueezeExcite


class GhostModule(tf_keras.layers.Layer):
    """Primary conv (``kernel_size``, ``strides``) -> BN -> [act] to ``ceil(filters / ratio)``
    channels, then the cheap operation: a ``dw_size`` depthwise conv (``ratio - 1`` outputs per
    channel) -> BN -> [act]; output = concat(primary, cheap)[..., :filters] (paper, Fig. 2c).

    Args:
      filters: output channels. ratio: the paper's ``s`` (2 in GhostNet).
      act: activation of both convs (None: linear, as in a bottleneck's second module).
    """

    def __init__(self, filters, ratio=2, kernel_size=1, dw_size=3, strides=1, act="relu",
                 norm_eps=1e-5, norm_momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        if ratio < 2:
            raise ValueError(f"A Ghost module needs ratio >= 2, got {ratio}.")
        self.filters, self.ratio, self.kernel_size = int(filters), int(ratio), kernel_size
        self.dw_size, self.strides, self.act = dw_size, strides, act
        self.norm_eps, self.norm_momentum = norm_eps, norm_momentum
        self.primary_width = math.ceil(self.filters / self.ratio)
        self.cheap_width = self.primary_width * (self.ratio - 1)
        norm = dict(act=act, norm_eps=norm_eps, norm_momentum=norm_momentum)
        self.primary = ConvNormAct(self.primary_width, kernel_size, strides, name="primary",
                                   **norm)
        # PyTorch's Conv2d(init, init * (ratio - 1), groups=init) is a depthwise conv with depth
        # multiplier ratio - 1, whose outputs keras orders as PyTorch does (channel-major).
        self.cheap = ConvNormAct(None, dw_size, 1, depthwise=True, name="cheap", **norm)
        self.cheap.conv.depth_multiplier = self.ratio - 1

    def call(self, x, training=None):
        primary = self.primary(x, training=training)
        ghosts = self.cheap(primary, training=training)
        out = tf.concat([primary, ghosts], axis=-1)
        if self.primary_width + self.cheap_width == self.filters:
            return out
        return out[..., :self.filters]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "ratio": self.ratio,
                "kernel_size": self.kernel_size, "dw_size": self.dw_size,
                "strides": self.strides, "act": self.act, "norm_eps": self.norm_eps,
                "norm_momentum": self.norm_momentum}


class GhostBottleneck(tf_keras.layers.Layer):
    """Ghost module (act) to ``mid_width`` -> [depthwise ``kernel_size`` conv, stride, -> BN when
    ``strides > 1``] -> [squeeze-excite to ``se_width``] -> Ghost module (linear) to
    ``out_width``, plus the shortcut: the input when the stride is 1 and the widths agree, else a
    depthwise ``kernel_size`` conv (stride) -> BN -> 1x1 conv -> BN (paper, Fig. 3; timm).

    ``drop_path_rate`` drops the residual branch of blocks with the identity shortcut (neither the
    paper nor timm has stochastic depth in GhostNet; off by default).
    """

    def __init__(self, in_width, mid_width, out_width, kernel_size=3, strides=1, se_width=0,
                 act="relu", se_act="relu", se_gate="hard_sigmoid", drop_path_rate=0.0,
                 norm_eps=1e-5, norm_momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        self.in_width, self.mid_width = int(in_width), int(mid_width)
        self.out_width = int(out_width)
        self.kernel_size, self.strides, self.se_width = kernel_size, int(strides), int(se_width)
        self.act, self.se_act, self.se_gate = act, se_act, se_gate
        self.drop_path_rate = float(drop_path_rate)
        self.norm_eps, self.norm_momentum = norm_eps, norm_momentum
        norm = dict(norm_eps=norm_eps, norm_momentum=norm_momentum)
        self.ghost1 = GhostModule(mid_width, act=act, name="ghost1", **norm)
        self.depthwise = (ConvNormAct(None, kernel_size, strides, depthwise=True, act=None,
                                      name="depthwise", **norm) if self.strides > 1 else None)
        self.se = (SqueezeExcite(self.se_width, act=se_act, gate=se_gate, name="se")
                   if self.se_width > 0 else None)
        self.ghost2 = GhostModule(out_width, act=None, name="ghost2", **norm)
        self.has_skip = self.strides == 1 and self.in_width == self.out_width
        if self.has_skip:
            self.shortcut = []
            self.drop_path = DropPath(drop_path_rate, name="drop_path")
        else:
            self.shortcut = [
                ConvNormAct(None, kernel_size, strides, depthwise=True, act=None,
                            name="shortcut_dw", **norm),
                ConvNormAct(out_width, 1, act=None, name="shortcut_pw", **norm)]
            self.drop_path = None

    def call(self, x, training=None):
        shortcut = x
        x = self.ghost1(x, training=training)
        if self.depthwise is not None:
            x = self.depthwise(x, training=training)
        if self.se is not None:
            x = self.se(x)
        x = self.ghost2(x, training=training)
        if self.has_skip:
            return self.drop_path(x, training=training) + shortcut
        for layer in self.shortcut:
            shortcut = layer(shortcut, training=training)
        return x + shortcut

    def get_config(self):
        return {**super().get_config(), "in_width": self.in_width, "mid_width": self.mid_width,
                "out_width": self.out_width, "kernel_size": self.kernel_size,
                "strides": self.strides, "se_width": self.se_width, "act": self.act,
                "se_act": self.se_act, "se_gate": self.se_gate,
                "drop_path_rate": self.drop_path_rate, "norm_eps": self.norm_eps,
                "norm_momentum": self.norm_momentum}
