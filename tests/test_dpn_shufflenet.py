"""ShuffleNet v1 / v2 and DPN: the shared channel shuffle, layouts against the references'
definitions (written out by hand), gradients, feature strides and a few training steps."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfcls
import trainers
from tfcls.layers import ChannelShuffle
from tfcls.models.shufflenet_v1 import ShuffleV1Unit
from test_trainer_helpers import tiny_dataset


def conv_layout(layer):
    """Ordered (kernel shape in PyTorch's OIHW, groups) of every convolution under ``layer``."""
    layout = []
    for conv in layer.submodules:
        if isinstance(conv, tf_keras.layers.DepthwiseConv2D):
            height, width, channels, _ = conv.depthwise_kernel.shape
            layout.append(((channels, 1, height, width), channels))
        elif isinstance(conv, tf_keras.layers.Conv2D):
            height, width, per_group, filters = conv.kernel.shape
            layout.append(((filters, per_group, height, width), conv.groups))
    return layout


def built(name, size=32, **kwargs):
    model = tfcls.create_model(name, **kwargs)
    model(tf.zeros([1, size, size, 3]))
    return model


def assert_every_variable_gets_a_gradient(model, size=32):
    images = tf.random.normal([2, size, size, 3], seed=1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(images, training=True)))
    grads = tape.gradient(loss, model.trainable_variables)
    missing = [v.name for v, g in zip(model.trainable_variables, grads) if g is None]
    assert not missing, missing
    assert all(np.isfinite(g.numpy()).all() for g in grads)


def feature_strides_and_widths(model, size=64):
    """What ``features_only=True`` returns (``forward_stages``): strides and channels."""
    features = model.forward_stages(tf.zeros([1, size, size, 3]))
    return [size // f.shape[1] for f in features], [f.shape[-1] for f in features]


def assert_training_lowers_the_loss(name):
    images = tiny_dataset(8, num_images=8, size=32, num_classes=4).take(1).cache()
    config = trainers.TrainConfig.from_flat(
        total_steps=6, global_batch_size=8, optimizer="adamw", learning_rate=3e-3,
        schedule="constant", steps_per_loop=3, jit_compile=False)
    trainer = trainers.ClassificationTrainer(lambda: built(name, num_classes=4), config)
    trainer.train(images)
    losses = [logs["loss"] for logs in trainer.history]
    assert losses[-1] < losses[0], losses


# --- channel shuffle -------------------------------------------------------------------------

@pytest.mark.parametrize("channels, groups", [(12, 3), (12, 2), (48, 8)])
def test_channel_shuffle_matches_a_numpy_permutation(channels, groups):
    x = tf.reshape(tf.range(2 * 3 * 3 * channels, dtype=tf.float32), [2, 3, 3, channels])
    index = np.arange(channels)
    paper = index.reshape(groups, channels // groups).T.ravel()  # torchvision's channel_shuffle
    megvii = index.reshape(channels // groups, groups).T.ravel()  # official ShuffleNet v1 code
    np.testing.assert_array_equal(ChannelShuffle(groups)(x).numpy(), x.numpy()[..., paper])
    np.testing.assert_array_equal(ChannelShuffle(groups, inverse=True)(x).numpy(),
                                  x.numpy()[..., megvii])
    both = ChannelShuffle(groups, inverse=True)(ChannelShuffle(groups)(x))
    np.testing.assert_array_equal(both.numpy(), x.numpy())
    assert ChannelShuffle.from_config(ChannelShuffle(groups, True).get_config()).inverse


def test_channel_shuffle_of_two_groups_interleaves_the_halves():
    x = tf.reshape(tf.range(6, dtype=tf.float32), [1, 1, 1, 6])
    assert ChannelShuffle(2)(x).numpy().ravel().tolist() == [0, 3, 1, 4, 2, 5]


# --- ShuffleNet v2 ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shufflenet_v2_050():
    return built("shufflenet_v2_050")


def test_shufflenet_v2_gradients_strides_and_refused_drop_path(shufflenet_v2_050):
    assert_every_variable_gets_a_gradient(shufflenet_v2_050)
    strides, widths = feature_strides_and_widths(shufflenet_v2_050)
    assert strides == [2, 4, 8, 16, 32] and widths == [24, 24, 48, 96, 1024]
    features_only = tfcls.create_model("shufflenet_v2_050", features_only=True)
    assert [f.shape for f in features_only(tf.zeros([1, 64, 64, 3]))] == [
        (1, 32, 32, 24), (1, 16, 16, 24), (1, 8, 8, 48), (1, 4, 4, 96), (1, 2, 2, 1024)]
    assert features_only.head is None
    with pytest.raises(ValueError, match="drop_path_rate"):
        tfcls.create_model("shufflenet_v2_050", drop_path_rate=0.1)


def test_shufflenet_v2_unit_layout_follows_torchvision(shufflenet_v2_050):
    """torchvision InvertedResidual(24, 48, 2) then (48, 48, 1) of shufflenet_v2_x0_5
    (stages_out_channels 24, 48, 96, 192, 1024): branch1 = dw 3x3 (24), 1x1 24->24;
    branch2 = 1x1 24->24, dw 3x3 (24), 1x1 24->24; at stride 1 only branch2, on half the input."""
    model = shufflenet_v2_050
    first, second = model.stages[0][:2]
    assert conv_layout(first) == [
        ((24, 1, 3, 3), 24), ((24, 24, 1, 1), 1),
        ((24, 24, 1, 1), 1), ((24, 1, 3, 3), 24), ((24, 24, 1, 1), 1)]
    assert conv_layout(second) == [((24, 24, 1, 1), 1), ((24, 1, 3, 3), 24), ((24, 24, 1, 1), 1)]
    assert [len(stage) for stage in model.stages] == [4, 8, 4]
    assert conv_layout(model.stages[2][-1]) == [((96, 96, 1, 1), 1), ((96, 1, 3, 3), 96),
                                                ((96, 96, 1, 1), 1)]
    assert conv_layout(model.stem) == [((24, 3, 3, 3), 1)]
    assert conv_layout(model.conv5) == [((1024, 192, 1, 1), 1)]
    assert all(bn.epsilon == 1e-5 for bn in model.submodules
               if isinstance(bn, tf_keras.layers.BatchNormalization))
    assert model.head.fc.use_bias


def test_shufflenet_v2_trains():
    assert_training_lowers_the_loss("shufflenet_v2_050")


# --- ShuffleNet v1 ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shufflenet_v1_g3_050():
    return built("shufflenet_v1_g3_050")


def test_shufflenet_v1_gradients_strides_and_refused_drop_path(shufflenet_v1_g3_050):
    assert_every_variable_gets_a_gradient(shufflenet_v1_g3_050)
    strides, widths = feature_strides_and_widths(shufflenet_v1_g3_050)
    assert strides == [2, 4, 8, 16, 32] and widths == [12, 12, 120, 240, 480]
    with pytest.raises(ValueError, match="drop_path_rate"):
        tfcls.create_model("shufflenet_v1_g3_050", drop_path_rate=0.1)


def test_shufflenet_v1_unit_layout_follows_the_official_code(shufflenet_v1_g3_050):
    """ShuffleV1Block(12, 120, group=3, first_group=True, mid 30, stride 2), then
    (120, 120, group=3, stride 1) of the official ShuffleNetV1(group=3, 0.5x) (stage_out_channels
    12, 120, 240, 480): the first 1x1 of stage 2 is not grouped, the stride-2 unit's main branch
    makes 120 - 12 channels, the later 1x1s are grouped."""
    model = shufflenet_v1_g3_050
    first, second = model.stages[0][:2]
    assert conv_layout(first) == [((30, 12, 1, 1), 1), ((30, 1, 3, 3), 30), ((108, 10, 1, 1), 3)]
    assert conv_layout(second) == [((30, 40, 1, 1), 3), ((30, 1, 3, 3), 30), ((120, 10, 1, 1), 3)]
    assert conv_layout(model.stages[1][0]) == [((60, 40, 1, 1), 3), ((60, 1, 3, 3), 60),
                                               ((120, 20, 1, 1), 3)]
    assert first.shuffle.groups == 3 and first.shuffle.inverse
    assert conv_layout(model.stem) == [((12, 3, 3, 3), 1)]
    assert model.head.fc.kernel.shape == (480, 1000) and not model.head.fc.use_bias
    single = ShuffleV1Unit(144, 144, 1, groups=1)
    assert single.shuffle is None  # one group: no shuffle, as the official code


def test_shufflenet_v1_stride2_shortcut_averages_over_nine_with_zero_padding(shufflenet_v1_g3_050):
    """torch's AvgPool2d(3, 2, padding=1) counts the padding: a corner sees 4 of 9 ones."""
    unit = shufflenet_v1_g3_050.stages[0][0]
    out = unit(tf.ones([1, 8, 8, 12])).numpy()
    assert out.shape == (1, 4, 4, 120)
    np.testing.assert_allclose(out[0, 0, 0, :12], 4 / 9, rtol=1e-6)
    np.testing.assert_allclose(out[0, 1, 1, :12], 1.0, rtol=1e-6)
    assert (out[..., 12:] >= 0).all()  # ReLU after the main branch


# --- DPN -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dpn68():
    return built("dpn68")


def test_dpn_gradients_strides_and_refused_drop_path(dpn68):
    assert_every_variable_gets_a_gradient(dpn68)
    strides, widths = feature_strides_and_widths(dpn68)
    assert strides == [2, 4, 8, 16, 32]
    assert widths == [10, 64 + 5 * 16, 128 + 6 * 32, 256 + 14 * 32, 512 + 5 * 64]  # both paths
    with pytest.raises(ValueError, match="drop_path_rate"):
        tfcls.create_model("dpn68", drop_path_rate=0.1)


def test_dpn68_first_blocks_follow_timm(dpn68):
    """timm dpn68 (small, num_init_features=10, k_r=128, groups=32, inc_sec[0]=16): conv2_1 =
    DualPathBlock(10, 128, 128, 64, 16, 32, 'proj'): c1x1_w_s1 10->64+2*16, c1x1_a 10->128,
    c3x3_b 128->128 in 32 groups, c1x1_c 128->64+16; conv2_2 the same from 64 + 3 * 16 = 112
    channels without the projection. Every conv is preceded by BN(eps 1e-3)-ReLU."""
    first, second = dpn68.stages[0][:2]
    assert conv_layout(dpn68.stem) == [((10, 3, 3, 3), 1)]
    assert conv_layout(first) == [((96, 10, 1, 1), 1), ((128, 10, 1, 1), 1),
                                  ((128, 4, 3, 3), 32), ((80, 128, 1, 1), 1)]
    assert conv_layout(second) == [((128, 112, 1, 1), 1), ((128, 4, 3, 3), 32),
                                   ((80, 128, 1, 1), 1)]
    assert [bn.gamma.shape[0] for bn in second.submodules
            if isinstance(bn, tf_keras.layers.BatchNormalization)] == [112, 128, 128]
    assert all(bn.epsilon == 1e-3 for bn in dpn68.submodules
               if isinstance(bn, tf_keras.layers.BatchNormalization))
    down = dpn68.stages[1][0]  # conv3_1: 'down', projection and 3x3 at stride 2
    assert down.c1x1_w.conv.strides == (2, 2) and down.c3x3_b.conv.strides == (2, 2)
    assert dpn68.head.fc.kernel.shape == (832, 1000) and dpn68.head.fc.use_bias


def test_dual_path_block_adds_the_residual_and_grows_the_dense_path(dpn68):
    block = dpn68.stages[0][1]
    residual, dense = tf.random.normal([1, 4, 4, 64]), tf.random.normal([1, 4, 4, 48])
    new_residual, new_dense = block((residual, dense))
    out = block.c1x1_c(block.c3x3_b(block.c1x1_a(tf.concat([residual, dense], -1))))
    np.testing.assert_allclose(new_residual, residual + out[..., :64], atol=1e-5)
    np.testing.assert_allclose(new_dense, tf.concat([dense, out[..., 64:]], -1), atol=1e-5)


def test_initializations_follow_the_references(shufflenet_v2_050, shufflenet_v1_g3_050):
    """torchvision/timm: PyTorch's default U(+-1/sqrt(fan_in)); official ShuffleNet v1:
    N(0, 1/fan_in per group) for the 1x1s, N(0, 1) for the depthwise, beta 1e-4."""
    kernel = shufflenet_v2_050.conv5.conv.kernel.numpy()  # fan_in 192
    assert 0.95 / np.sqrt(192) < np.abs(kernel).max() <= 1 / np.sqrt(192)
    depthwise = shufflenet_v2_050.stages[0][0].main[1].conv.depthwise_kernel.numpy()  # fan_in 9
    assert 0.9 / 3 < np.abs(depthwise).max() <= 1 / 3
    unit = shufflenet_v1_g3_050.stages[1][0]
    np.testing.assert_allclose(unit.pw2.conv.kernel.numpy().std(), 1 / 20, rtol=0.1)  # 60 / 3
    np.testing.assert_allclose(unit.dw.conv.depthwise_kernel.numpy().std(), 1.0, rtol=0.1)
    np.testing.assert_allclose(unit.pw1.bn.beta.numpy(), 1e-4)
