"""Evaluation, prediction and export read the weights' own crop fraction and interpolation from
``pretrained_cfg`` (timm's ``bicubic`` / 0.95, torchvision's ``bilinear`` / 224/256)."""
import numpy as np
import tensorflow as tf

import tfcls
from launch.data import eval_args
from tfcls.convert import torch_twin
from tfcls.data import transforms


def test_eval_args_follow_the_weights_source():
    model = tfcls.create_model("resnet18", num_classes=3, input_size=32)
    model.pretrained_cfg.update(torch_twin("resnet18", "timm").pretrained_cfg)
    args = eval_args(model, 32, 4, None)
    assert (args["interpolation"], args["crop_pct"]) == ("bicubic", 0.95)
    model.pretrained_cfg.update(torch_twin("resnet18", "torchvision").pretrained_cfg)
    args = eval_args(model, 32, 4, None)
    assert (args["interpolation"], args["crop_pct"]) == ("bilinear", 224 / 256)


def test_the_interpolation_reaches_the_pixels():
    image = tf.constant(np.random.default_rng(0).integers(0, 255, (50, 70, 3)), tf.uint8)
    views = {method: transforms.eval_preprocess(image, 32, transforms.eval_resize_size(32, 0.95),
                                                (0.5,) * 3, (0.5,) * 3, "RGB", method).numpy()
             for method in ("bilinear", "bicubic")}
    assert views["bicubic"].shape == (32, 32, 3)
    assert np.abs(views["bicubic"] - views["bilinear"]).max() > 0.05
