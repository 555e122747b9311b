"""Initializations follow the references (He et al., 2015 for ResNet/VGG convolutions), not keras'
glorot-uniform default; zero_init_last starts every residual branch at zero."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfcls


def _he_std(kernel):
    kh, kw, _, out = kernel.shape
    return np.sqrt(2.0 / (kh * kw * out))


def _convs(model):
    return [layer for layer in model.submodules
            if isinstance(layer, tf_keras.layers.Conv2D) and layer.kernel.shape.num_elements() > 4096]


@pytest.mark.parametrize("name", ["resnet18", "resnet50_v2"])
def test_resnet_convs_are_he_fan_out_normal_and_the_classifier_torch_uniform(name):
    tf_keras.utils.set_random_seed(0)
    model = tfcls.create_model(name, input_size=32)
    convs = _convs(model)
    assert len(convs) > 10
    for conv in convs:
        kernel = conv.kernel.numpy()
        # glorot-uniform gives 0.7x of this for a square 3x3 conv, 0.58x for a 1x1 expansion
        assert kernel.std() == pytest.approx(_he_std(kernel), rel=0.08), conv.name
        assert abs(kernel.mean()) < 0.2 * kernel.std()
    bound = 1 / np.sqrt(model.num_features)
    fc = model.head.fc
    for weights in (fc.kernel.numpy(), fc.bias.numpy()):
        assert np.abs(weights).max() <= bound
        assert weights.std() == pytest.approx(bound / np.sqrt(3), rel=0.1)  # uniform, not zero


def test_zero_init_last_makes_each_residual_block_start_as_its_shortcut():
    tf_keras.utils.set_random_seed(0)
    plain = tfcls.create_model("resnet18", input_size=32, num_classes=4)
    zeroed = tfcls.create_model("resnet18", input_size=32, num_classes=4, zero_init_last=True)
    assert all(np.any(block.conv2.bn.gamma.numpy() != 0) for block in plain.blocks)
    assert all(np.all(block.conv2.bn.gamma.numpy() == 0) for block in zeroed.blocks)
    x = tf.nn.relu(tf.random.normal([2, 8, 8, 64], seed=1))  # a post-ReLU map, as blocks see
    identity_block = zeroed.blocks[1]  # stage 1, no projection
    np.testing.assert_array_equal(identity_block(x, training=False).numpy(), x.numpy())
    assert not np.allclose(plain.blocks[1](x, training=False).numpy(), x.numpy())


def test_zero_init_last_zeroes_the_last_conv_of_pre_activation_blocks():
    model = tfcls.create_model("resnet50_v2", input_size=32, num_classes=4, zero_init_last=True)
    assert all(np.all(block.conv3.conv.kernel.numpy() == 0) for block in model.blocks)
    assert all(np.any(block.conv2.conv.kernel.numpy() != 0) for block in model.blocks)


def test_vgg_follows_torchvision_init():
    tf_keras.utils.set_random_seed(0)
    model = tfcls.create_model("vgg11_bn", input_size=32, num_classes=10)
    for conv in _convs(model):
        kernel = conv.kernel.numpy()
        assert kernel.std() == pytest.approx(_he_std(kernel), rel=0.08), conv.name
    for dense in model.head.hidden + [model.head.fc]:
        assert dense.kernel.numpy().std() == pytest.approx(0.01, rel=0.05), dense.name
        assert not dense.bias.numpy().any()
