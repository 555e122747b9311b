"""NASNet-A (Zoph et al., 2018, "Learning Transferable Architectures for Scalable Image
Recognition"), in the layout of tf_keras.applications.NASNetMobile / NASNetLarge, whose weights
port one to one.

A 3x3 stride-2 conv stem, two reduction cells ("stem_1", "stem_2"), then three stacks of
``num_blocks`` normal cells separated by reduction cells; each cell also reads the previous
cell's output. NASNet-A Large skips the reduction cells' inputs ("skip_reduction": the cell after
a reduction reads the output from before it). Drop path is per cell operation (ScheduledDropPath):
cell k of T gets ``drop_path_rate * (k + 1) / T`` as the slim reference; ramp it over training
with the trainer's linear drop-path schedule. Every operation of a cell except the identities ends
in its own ``DropPath`` (the slim reference drops each operation's output); batch norm: momentum
0.9997, epsilon 1e-3, as the reference.
"""
import tensorflow as tf
import tf_keras

from tfcls.layers import ClassifierHead, ConvNormAct, DropPath, SeparableConvNormAct
from tfcls.models._registration import Variant, register_family
from tfcls.models.base import TF_PREPROCESSING, ImageClassifier

VARIANTS = {
    "nasnet_mobile": Variant(
        params=5_289_978, keras_twin="NASNetMobile", keras_preprocessing=TF_PREPROCESSING,
        arch=dict(penultimate_filters=1056, num_blocks=4, stem_filters=32, skip_reduction=False)),
    "nasnet_large": Variant(
        params=88_753_150, reference="tf_keras.applications.NASNetLarge (= timm nasnetalarge)",
        resolution=331, keras_twin="NASNetLarge", keras_preprocessing=TF_PREPROCESSING,
        arch=dict(penultimate_filters=4032, num_blocks=6, stem_filters=96, skip_reduction=True)),
}
_FILTER_MULTIPLIER = 2


# --- NASNet-A cells (NASNet only) ----------------------------------------------------------------
NASNET_NORM = dict(norm_eps=1e-3, norm_momentum=0.9997)


def he_normal_conv(filters, name, **kwargs):
    """A 1x1 conv -> BN (no activation) with the reference's he_normal kernel initializer."""
    layer = ConvNormAct(filters, 1, padding="same", act=None, name=name, **NASNET_NORM, **kwargs)
    layer.conv.kernel_initializer = tf_keras.initializers.get("he_normal")
    return layer


def pad_for_stride2(x, kernel_size=3):
    """Zero padding before a 'valid' stride-2 window, as keras' ``correct_pad``: (k//2 - 1,
    k//2) on an even side, (k//2, k//2) on an odd one."""
    pads = []
    for axis in (1, 2):
        size = x.shape[axis] if x.shape[axis] is not None else tf.shape(x)[axis]
        pads.append([kernel_size // 2 - 1 + size % 2, kernel_size // 2])
    return tf.pad(x, [[0, 0], pads[0], pads[1], [0, 0]])


class SeparableBranch(tf_keras.layers.Layer):
    """ReLU -> separable conv (strided) -> BN -> ReLU -> separable conv -> BN."""

    def __init__(self, filters, kernel_size, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = filters, kernel_size, strides
        self.conv1 = SeparableConvNormAct(filters, kernel_size, strides, act="relu",
                                          act_first=True, name="conv1", **NASNET_NORM)
        self.conv2 = SeparableConvNormAct(filters, kernel_size, act="relu", act_first=True,
                                          name="conv2", **NASNET_NORM)

    def call(self, x, training=None):
        return self.conv2(self.conv1(x, training=training), training=training)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides}


class FactorizedReduce(tf_keras.layers.Layer):
    """Halves a previous cell's output to the current resolution: ReLU, then two 1x1 convs of
    ``filters // 2`` on the even and (shifted by one pixel) odd positions, concatenated, BN."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        conv = dict(kernel_size=1, use_bias=False, kernel_initializer="he_normal")
        self.conv1 = tf_keras.layers.Conv2D(filters // 2, name="conv1", **conv)
        self.conv2 = tf_keras.layers.Conv2D(filters // 2, name="conv2", **conv)
        self.bn = tf_keras.layers.BatchNormalization(
            epsilon=NASNET_NORM["norm_eps"], momentum=NASNET_NORM["norm_momentum"], name="bn")

    def call(self, x, training=None):
        x = tf.nn.relu(x)
        even = self.conv1(x[:, ::2, ::2])
        shifted = tf.pad(x[:, 1:, 1:], [[0, 0], [0, 1], [0, 1], [0, 0]])
        odd = self.conv2(shifted[:, ::2, ::2])
        return self.bn(tf.concat([even, odd], axis=-1), training=training)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


def _make_op(spec, filters, name):
    """One cell operation from its spec: ("sep", kernel, stride), ("avg"/"max", stride)."""
    kind, *args = spec
    if kind == "sep":
        return SeparableBranch(filters, *args, name=name)
    pool = tf_keras.layers.AveragePooling2D if kind == "avg" else tf_keras.layers.MaxPooling2D
    strides = args[0]  # stride 2 pools are 'valid' on an input zero-padded by pad_for_stride2
    return pool(3, strides, padding="same" if strides == 1 else "valid", name=name)


class NASNetCell(tf_keras.layers.Layer):
    """The shared part of both cells: the previous cell's output ``prev`` is brought to this
    cell's shape (``adjust``: "reduce" = FactorizedReduce, "project" = ReLU -> 1x1 conv -> BN,
    None = used as it is), the input goes through ReLU -> 1x1 conv -> BN, and each operation of
    ``OPS`` (name -> spec) is built with its own DropPath."""

    OPS = {}
    reduction = False

    def __init__(self, filters, adjust=None, drop_path_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        if adjust not in (None, "reduce", "project"):
            raise ValueError(f"adjust must be None, 'reduce' or 'project', got {adjust!r}.")
        self.filters, self.adjust_kind = filters, adjust
        self.drop_path_rate = float(drop_path_rate)
        if adjust == "reduce":
            self.adjust = FactorizedReduce(filters, name="adjust")
        elif adjust == "project":
            self.adjust = he_normal_conv(filters, "adjust")
        else:
            self.adjust = None
        self.conv_1x1 = he_normal_conv(filters, "conv_1x1")
        self.ops = {name: _make_op(spec, filters, name) for name, spec in self.OPS.items()}
        self.drop_paths = {name: DropPath(self.drop_path_rate, name=f"drop_path_{name}")
                           for name in self.OPS}

    def op(self, name, x, training):
        """Operation ``name`` on ``x``, then its DropPath."""
        return self.drop_paths[name](self.ops[name](x, training=training), training=training)

    def inputs(self, x, prev, training):
        """(h, p): this cell's input after its 1x1 conv, and the adjusted previous output."""
        if prev is None:
            prev = x
        elif self.adjust_kind == "project":
            prev = self.adjust(tf.nn.relu(prev), training=training)
        elif self.adjust_kind == "reduce":
            prev = self.adjust(prev, training=training)
        return self.conv_1x1(tf.nn.relu(x), training=training), prev

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "adjust": self.adjust_kind,
                "drop_path_rate": self.drop_path_rate}


class NormalCell(NASNetCell):
    """NASNet-A normal cell: five pairwise sums of separable convs, 3x3 average pools and
    identities over (h = this input, p = previous output), concatenated with p: 6 x filters."""

    OPS = {"left1": ("sep", 5, 1), "right1": ("sep", 3, 1), "left2": ("sep", 5, 1),
           "right2": ("sep", 3, 1), "left3": ("avg", 1), "left4": ("avg", 1),
           "right4": ("avg", 1), "left5": ("sep", 3, 1)}

    def call(self, x, prev=None, training=None):
        h, p = self.inputs(x, prev, training)
        x1 = self.op("left1", h, training) + self.op("right1", p, training)
        x2 = self.op("left2", p, training) + self.op("right2", p, training)
        x3 = self.op("left3", h, training) + p
        x4 = self.op("left4", p, training) + self.op("right4", p, training)
        x5 = self.op("left5", h, training) + h
        return tf.concat([p, x1, x2, x3, x4, x5], axis=-1)


class ReductionCell(NASNetCell):
    """NASNet-A reduction cell: stride-2 separable convs and 3x3 pools (on h zero-padded as
    keras does), concatenated: 4 x filters at half the resolution."""

    OPS = {"left1": ("sep", 5, 2), "right1": ("sep", 7, 2), "left2": ("max", 2),
           "right2": ("sep", 7, 2), "left3": ("avg", 2), "right3": ("sep", 5, 2),
           "left4": ("avg", 1), "left5": ("sep", 3, 1), "right5": ("max", 2)}
    reduction = True

    def call(self, x, prev=None, training=None):
        h, p = self.inputs(x, prev, training)
        h3 = pad_for_stride2(h)
        x1 = self.op("left1", h, training) + self.op("right1", p, training)
        x2 = self.op("left2", h3, training) + self.op("right2", p, training)
        x3 = self.op("left3", h3, training) + self.op("right3", p, training)
        x4 = self.op("left4", x1, training) + x2
        x5 = self.op("left5", x1, training) + self.op("right5", h3, training)
        return tf.concat([x2, x3, x4, x5], axis=-1)


class NASNet(ImageClassifier):
    """NASNet-A ``num_blocks @ penultimate_filters``: cells as keras builds them, a final ReLU,
    global average pooling, dropout (``drop_rate``) and the classifier."""

    drop_path_rule = "one_based"

    def __init__(self, penultimate_filters, num_blocks, stem_filters, skip_reduction,
                 num_classes=1000, drop_rate=0.0, drop_path_rate=0.0, global_pool="avg",
                 features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        self.skip_reduction = skip_reduction
        self.stem = ConvNormAct(stem_filters, 3, 2, padding="valid", act=None, name="stem",
                                **NASNET_NORM)
        self.stem.conv.kernel_initializer = tf_keras.initializers.get("he_normal")  # as keras
        self.cells = self._make_cells(penultimate_filters // 24, num_blocks)
        self.apply_drop_path_rule(self.cells, drop_path_rate)
        self.num_features = 6 * self.cells[-1].filters
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, name="head")

    def _make_cells(self, filters, num_blocks):
        """The cells in keras' order (named by keras' block ids), each with its ``prev``
        adjustment decided as keras decides it from the shapes: halve a previous output at a
        finer stride, else project it to the cell's width."""
        m = _FILTER_MULTIPLIER
        plan = [(ReductionCell, filters // m ** 2, "stem_1"),
                (ReductionCell, filters // m, "stem_2")]
        for stack in range(3):
            if stack:
                plan.append((ReductionCell, filters * m ** stack, f"reduce_{stack * num_blocks}"))
            plan += [(NormalCell, filters * m ** stack, str(stack * num_blocks + min(stack, 1) + i))
                     for i in range(num_blocks)]
        cells, x_stride, prev_stride = [], 1, None  # strides relative to the stem output
        for cell_type, width, block_id in plan:
            if prev_stride is None:
                adjust = None
            else:
                adjust = "reduce" if prev_stride != x_stride else "project"
            cell = cell_type(width, adjust, name=f"cell_{block_id}")
            cell.block_id = block_id
            cell.skip_input = self.skip_reduction and block_id.startswith("reduce")
            cells.append(cell)
            if not cell.skip_input:
                prev_stride = x_stride
            x_stride *= 2 if cell.reduction else 1
        return cells

    def forward_stages(self, x, training=None):
        x = self.stem(x, training=training)
        prev, features = None, []
        for cell in self.cells:
            if cell.reduction:
                features.append(x)  # the map at each stride, just before it is halved
            out = cell(x, prev, training=training)
            prev = prev if cell.skip_input else x
            x = out
        return features + [tf.nn.relu(x)]

    def keras_weight_pairs(self):
        """(our layer, its tf_keras.applications NASNet twin's layer name)."""
        pairs = [(self.stem.conv, "stem_conv1"), (self.stem.bn, "stem_bn1")]
        for cell in self.cells:
            pairs += _cell_pairs(cell)
        return pairs


def _cell_pairs(cell):
    kind, block = ("reduction" if cell.reduction else "normal"), cell.block_id
    pairs = [(cell.conv_1x1.conv, f"{kind}_conv_1_{block}"),
             (cell.conv_1x1.bn, f"{kind}_bn_1_{block}")]
    if cell.adjust_kind == "reduce":
        pairs += [(cell.adjust.conv1, f"adjust_conv_1_{block}"),
                  (cell.adjust.conv2, f"adjust_conv_2_{block}"),
                  (cell.adjust.bn, f"adjust_bn_{block}")]
    elif cell.adjust_kind == "project":
        pairs += [(cell.adjust.conv, f"adjust_conv_projection_{block}"),
                  (cell.adjust.bn, f"adjust_bn_{block}")]
    for name, spec in cell.OPS.items():
        if spec[0] != "sep":
            continue
        keras_name = "left4" if cell.reduction and name == "left5" else name  # keras' naming
        branch = cell.ops[name]
        for index, conv in enumerate((branch.conv1, branch.conv2)):
            suffix = f"{kind}_{keras_name}_{block}"
            pairs += [(conv.conv, f"separable_conv_{index + 1}_{suffix}"),
                      (conv.bn, f"separable_conv_{index + 1}_bn_{suffix}")]
    return pairs


register_family("NASNet", "Zoph et al., 2018, Learning Transferable Architectures for Scalable "
                          "Image Recognition", NASNet, VARIANTS)
