"""Reading and fetching timm / torchvision checkpoints, and ``pretrained="timm" | "torchvision" |
<file>``. No PyTorch needed at run time for ``.safetensors`` (read through safetensors' numpy API);
``.pth`` / ``.bin`` files are pickles only PyTorch reads, so they need it installed."""
import os
import shutil
import socket
import urllib.request

from tfcls.convert.keras_applications import PretrainedUnavailableError
from tfcls.convert.torch_port import TorchPortError, from_torch
from tfcls.convert.torch_twins import SOURCES, torch_twin


def weights_cache_dir():
    """Where tfcls keeps downloaded torchvision files: torch's own hub cache
    (``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch/hub/checkpoints``), so a file that
    PyTorch already downloaded is found there."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "torch")
    return os.path.join(torch_home, "hub", "checkpoints")


def read_state_dict(path):
    """``{name: numpy array}`` from a ``.safetensors`` file, or (with PyTorch installed) a
    ``.pth`` / ``.pt`` / ``.bin`` one."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No weight file {path!r}.")
    if path.endswith(".safetensors"):
        try:
            from safetensors.numpy import load_file
        except ImportError:
            raise PretrainedUnavailableError(
                f"Reading {path} needs the safetensors package: pip install safetensors "
                f"(or pip install 'tfcls[hub]').") from None
        return load_file(path)
    if path.endswith((".pth", ".pt", ".bin")):
        try:
            import torch
        except ImportError:
            raise PretrainedUnavailableError(
                f"{path} is a PyTorch pickle, which only PyTorch reads: pip install torch (the CPU "
                f"build will do), or convert it to .safetensors where torch is installed.") from None
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        return {k: v.float().numpy() for k, v in state.items() if hasattr(v, "numpy")}
    raise ValueError(f"Unknown weight file type {path!r}: .safetensors, .pth, .pt or .bin.")


def _hub_url(twin):
    return f"https://huggingface.co/{twin.id}/resolve/main/{twin.filename}"


def fetch_twin(twin):
    """The local path of ``twin``'s checkpoint, downloaded on first use (timm's through
    huggingface_hub into its usual cache, torchvision's into torch's hub cache)."""
    if twin.source == "timm":
        return _fetch_hub(twin)
    path = os.path.join(weights_cache_dir(), twin.filename)
    if not os.path.isfile(path):
        _download(twin.url, path)
    return path


def _fetch_hub(twin):
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise PretrainedUnavailableError(
            f"Fetching {twin.id} needs huggingface_hub: pip install 'tfcls[hub]'; or download "
            f"{_hub_url(twin)} and pass pretrained='path/to/{twin.filename}'.") from None
    try:
        return hf_hub_download(twin.id, twin.filename, local_files_only=True)
    except Exception:  # not in the cache yet
        pass
    try:
        _check_reachable("huggingface.co")  # huggingface_hub would retry for half a minute
        return hf_hub_download(twin.id, twin.filename)
    except Exception as err:  # offline: several types (LocalEntryNotFoundError, OSError, ...)
        raise PretrainedUnavailableError(
            f"Could not fetch {twin.id} ({type(err).__name__}). Offline, download "
            f"{_hub_url(twin)} elsewhere and pass pretrained='path/to/{twin.filename}'.") from None


def _check_reachable(host, timeout=10):
    with socket.create_connection((host, 443), timeout=timeout):
        pass


def _download(url, path):
    part = path + ".part"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out)
        os.replace(part, path)
    except OSError as err:  # URLError, timeouts and disk errors are all OSErrors
        if os.path.exists(part):
            os.remove(part)
        raise PretrainedUnavailableError(
            f"Could not fetch {url} ({type(err).__name__}). Offline, download it elsewhere and "
            f"put it at {path}.") from None


def _ported(model, state_dict, source, variant):
    twin = torch_twin(variant, source)
    return from_torch(model, state_dict, source, twin.pretrained_cfg if twin else None)


def load_torch_pretrained(model, variant, source):
    """``pretrained="timm"`` / ``"torchvision"``: fetch ``variant``'s twin and port it; any other
    string is a local checkpoint (timm's key layout tried first, then torchvision's)."""
    if source in SOURCES:
        twin = torch_twin(variant, source)
        if twin is None:
            others = [s for s in SOURCES if torch_twin(variant, s)]
            hint = f" Try pretrained={others[0]!r}." if others else ""
            raise ValueError(f"{variant} has no {source} twin with ImageNet weights.{hint}")
        if twin.source == "torchvision":
            _require_torch(twin)
        return _ported(model, read_state_dict(fetch_twin(twin)), source, variant)
    if not os.path.isfile(os.fspath(source)):
        raise ValueError(f"Unknown pretrained source {source!r}: use 'keras', 'timm', "
                         f"'torchvision' or the path of a .safetensors / .pth file.")
    state_dict = read_state_dict(source)
    first_error = None
    for layout in SOURCES:
        try:
            return _ported(model, state_dict, layout, variant)
        except TorchPortError as err:
            first_error = first_error or err
    raise first_error


def _require_torch(twin):
    try:
        import torch  # noqa: F401
    except ImportError:
        raise PretrainedUnavailableError(
            f"torchvision's {twin.id} weights are a .pth file, which only PyTorch reads: pip "
            f"install torch (the CPU build will do), or convert {twin.url} to .safetensors "
            f"and pass pretrained='path/to/file.safetensors'.") from None
