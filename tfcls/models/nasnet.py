"""NASNet-A (Zoph et al., 2018, "Learning Transferable Architectures for Scalable Image
Recognition"), in the layout of tf_keras.applications.NASNetMobile / NASNetLarge, whose weights
port one to one.

A 3x3 stride-2 conv stem, two reduction cells ("stem_1", "stem_2"), then three stacks of
``num_blocks`` normal cells separated by reduction cells; each cell also reads the previous
cell's output. NASNet-A Large skips the reduction cells' inputs ("skip_reduction": the cell after
a reduction reads the output from before it). Drop path is per cell operation (ScheduledDropPath):
cell k of T gets ``drop_path_rate * (k + 1) / T`` as the slim reference; ramp it over training
with the trainer's linear drop-path schedule.
"""
import functools

import tensorflow as tf
import tf_keras

from tfcls.layers import ClassifierHead, ConvNormAct, NormalCell, ReductionCell
from tfcls.layers.nasnet_cells import NASNET_NORM
from tfcls.models._registration import TF_PREPROCESSING, registrar
from tfcls.models.base import ImageClassifier

register = registrar("NASNet", "Zoph et al., 2018, Learning Transferable Architectures for "
                               "Scalable Image Recognition")

# name: ((penultimate filters, normal cells per stack, stem filters, skip reduction),
#        params, reference, resolution, keras twin)
_VARIANTS = {
    "nasnet_mobile": ((1056, 4, 32, False), 5_289_978, "tf_keras.applications.NASNetMobile", 224,
                      "NASNetMobile"),
    "nasnet_large": ((4032, 6, 96, True), 88_753_150,
                     "tf_keras.applications.NASNetLarge (= timm nasnetalarge)", 331, "NASNetLarge"),
}
_FILTER_MULTIPLIER = 2


class NASNet(ImageClassifier):
    """NASNet-A ``num_blocks @ penultimate_filters``: cells as keras builds them, a final ReLU,
    global average pooling, dropout (``drop_rate``) and the classifier."""

    def __init__(self, penultimate_filters, num_blocks, stem_filters, skip_reduction,
                 num_classes=1000, drop_rate=0.0, drop_path_rate=0.0, global_pool="avg",
                 features_only=False, **kwargs):
        super().__init__(num_classes=num_classes, features_only=features_only, **kwargs)
        self.skip_reduction = skip_reduction
        self.stem = ConvNormAct(stem_filters, 3, 2, padding="valid", act=None, name="stem",
                                **NASNET_NORM)
        self.stem.conv.kernel_initializer = tf_keras.initializers.get("he_normal")  # as keras
        self.cells = self._make_cells(penultimate_filters // 24, num_blocks, drop_path_rate)
        self.num_features = 6 * self.cells[-1].filters
        if not features_only:
            self.head = ClassifierHead(self.num_classes, global_pool, drop_rate, name="head")

    def _make_cells(self, filters, num_blocks, drop_path_rate):
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
        for index, (cell_type, width, block_id) in enumerate(plan):
            if prev_stride is None:
                adjust = None
            else:
                adjust = "reduce" if prev_stride != x_stride else "project"
            rate = drop_path_rate * (index + 1) / len(plan)
            cell = cell_type(width, adjust, rate, name=f"cell_{block_id}")
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


for _name, (_arch, _params, _reference, _resolution, _keras) in _VARIANTS.items():
    register.variant(_name, functools.partial(NASNet, *_arch), params=_params,
                     reference=_reference, resolution=_resolution, keras=_keras,
                     keras_preprocessing=TF_PREPROCESSING)
