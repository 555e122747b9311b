"""PyTorch twins for the port tests: timm / torchvision models with random weights, random
batch-norm statistics and biases, and their logits on the same images.

PyPI's torchvision wheels are built against the CUDA torch; beside the CPU torch their C extension
(detection ops only: nms, roi_align) does not load, and ``import torchvision`` then fails while
registering a fake kernel for ``torchvision::nms``. The classification models are plain Python, so
when the extension is missing we declare those two operator schemas (never run) before importing.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch port tests need torch (the test extra)")


def _declare_missing_torchvision_ops():
    try:
        import importlib.util
        import os
        spec = importlib.util.find_spec("torchvision")
        if spec is None:
            return
        torch.ops.load_library(os.path.join(os.path.dirname(spec.origin), "_C.so"))
    except (OSError, RuntimeError):
        library = torch.library.Library("torchvision", "FRAGMENT")
        for op in ("nms", "qnms"):
            library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _declare_missing_torchvision_ops.library = library  # kept alive with the module


_declare_missing_torchvision_ops()
torchvision = pytest.importorskip("torchvision", reason="the torch port tests need torchvision")
timm = pytest.importorskip("timm", reason="the torch port tests need timm")


def randomized(module, seed=0, gamma=(0.5, 1.5)):
    """``module`` in eval mode with every batch norm's statistics, scale and shift, every bias and
    layer scale drawn at random (torch's inits leave them 0/1/1e-6, which would hide a swapped
    tensor). ``gamma``: the range of the batch norms' scales; a smaller one keeps a very deep
    random network from amplifying float32 rounding into different logits."""
    generator = torch.Generator().manual_seed(seed)

    def draw(shape, low, high):
        return torch.rand(shape, generator=generator) * (high - low) + low

    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, torch.nn.modules.batchnorm._BatchNorm):
                n = sub.num_features
                sub.running_mean.copy_(draw(n, -0.3, 0.3))
                sub.running_var.copy_(draw(n, 0.5, 1.5))
                if sub.weight is not None:
                    sub.weight.copy_(draw(n, *gamma))
                    sub.bias.copy_(draw(n, -0.3, 0.3))
            elif getattr(sub, "bias", None) is not None and isinstance(sub.bias, torch.Tensor):
                sub.bias.copy_(draw(sub.bias.shape, -0.2, 0.2))
        for name, param in module.named_parameters():
            if name.endswith("gamma"):  # ConvNeXt's layer scale starts at 1e-6: nearly no block
                param.copy_(draw(param.shape, 0.5, 1.5))
    return module.eval()


def torch_outputs(module, images):
    """The module's output (a tensor or a list of them) on NHWC ``images``, as NHWC numpy."""
    with torch.no_grad():
        out = module(torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))))
    if isinstance(out, (list, tuple)):
        return [o.numpy().transpose(0, 2, 3, 1) for o in out]
    return out.numpy()


def state_dict(module):
    return {k: v.numpy() for k, v in module.state_dict().items()}
