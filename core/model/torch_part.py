"""PyTorch encoders and decoders: TorchScript files and a user's own class plus its weights.

Both are CODE: a TorchScript file carries its author's compiled program, and importing a class
runs its module. They are loaded only when the user names them. Weights are never unpickled:
safetensors, or a state_dict read by ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import dataclasses
import importlib
import sys
import zipfile
from pathlib import Path

import numpy as np

from core.errors import BadInputError

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

STATE_KEYS = ("state_dict", "model_state_dict", "model", "module")   # common checkpoint wrappers


def _check_torchscript(path: Path) -> None:
    """A TorchScript archive is a zip with a code/ folder; a torch.save pickle has none."""
    if not zipfile.is_zipfile(path):
        raise BadInputError(f"{path} is not a TorchScript file (not a zip archive); export the model with "
                            "torch.jit.script(model) or torch.jit.trace(model, x), then torch.jit.save")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    if not any("/code/" in n for n in names):
        raise BadInputError(f"{path} is a torch.save checkpoint (pickled Python objects), which is never "
                            "loaded: save it with torch.jit.save(torch.jit.script(model), ...), or give its "
                            "class with --model package.module:Class and its state_dict with --weights")


def load_torchscript(path: str | Path, device: str = "cpu") -> torch.jit.ScriptModule:
    import torch

    path = Path(path)
    _check_torchscript(path)
    try:
        module = torch.jit.load(str(path), map_location=device)
    except Exception as e:  # torch raises RuntimeError subclasses with long C++ traces
        raise BadInputError(f"{path} is not a loadable TorchScript file ({str(e).splitlines()[0][:200]})") from e
    return module.eval()


def import_class(spec: str, code_dir: str | Path | None = None) -> type:
    """'package.module:ClassName' -> the class, importing from ``code_dir`` first."""
    if ":" not in spec:
        raise BadInputError(f"--model {spec!r} must read package.module:ClassName")
    mod_name, cls_name = spec.split(":", 1)
    if code_dir:
        code_dir = str(Path(code_dir).resolve())
        if not Path(code_dir).is_dir():
            raise BadInputError(f"--code-dir {code_dir} is not a folder")
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
    try:
        module = importlib.import_module(mod_name)
    except ImportError as e:
        raise BadInputError(f"cannot import module {mod_name!r} ({e}); pass the folder that holds it with "
                            "--code-dir") from e
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise BadInputError(f"module {mod_name!r} ({getattr(module, '__file__', '?')}) has no {cls_name!r}")
    return cls


def read_state_dict(path: str | Path) -> dict:
    """Tensors by name from safetensors or a weights-only torch file (a checkpoint dict is unwrapped)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"--weights {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as e:
            raise BadInputError(f"{path} is not a readable safetensors file ({e})") from e
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for pickled objects, RuntimeError for non-torch files
        raise BadInputError(f"{path} cannot be read as weights only ({str(e).splitlines()[0][:160]}): pickled "
                            "Python objects are never loaded; save model.state_dict() (safetensors preferred)") from e
    for key in STATE_KEYS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadInputError(f"{path} holds no state_dict (a dict of tensors by parameter name)")
    return {k.removeprefix("module."): v for k, v in state.items()}   # DistributedDataParallel prefix


def build_class(spec: str, weights: str | Path, args: dict, code_dir: str | Path | None = None,
                device: str = "cpu") -> torch.nn.Module:
    cls = import_class(spec, code_dir)
    try:
        model = cls(**args)
    except TypeError as e:
        raise BadInputError(f"{spec}(**{args}) failed: {e}; pass constructor arguments with --model-args JSON") from e
    state = read_state_dict(weights)
    missing, unexpected = _diff_keys(model.state_dict(), state)
    if missing or unexpected:
        raise BadInputError(f"{weights} does not fit {spec}: missing {missing[:5]}, unexpected {unexpected[:5]} "
                            "(wrong --model-args, or weights of another model?)")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise BadInputError(f"{weights} does not fit {spec}: {str(e).splitlines()[-1][:300]}") from e
    return model.to(device).eval()


def _diff_keys(own: dict, given: dict) -> tuple[list[str], list[str]]:
    return sorted(set(own) - set(given)), sorted(set(given) - set(own))


def method_of(module: Any, name: str, what: str) -> Any:
    """A method (``encode``) or a sub-module (``encoder``, ``net.dec``) of ``module``, as a callable."""
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            have = sorted(n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n, None)))
            raise BadInputError(f"the model has no {what} {name!r}; name it with --{what.replace(' ', '-')} "
                                f"(callables it has: {', '.join(have[:20])})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise BadInputError(f"{name!r} of the model is not callable")
    return obj


class TorchPart:
    """A callable of a torch module on numpy batches; outputs come back as numpy (or tuples/dicts)."""

    def __init__(self, fn, device: str = "cpu"):
        self.fn, self.device = fn, device

    def run(self, x: np.ndarray) -> Any:
        import torch

        with torch.no_grad():
            return _to_numpy(self.fn(torch.from_numpy(np.ascontiguousarray(x)).to(self.device)))


def _to_numpy(out):
    import torch

    if isinstance(out, torch.Tensor):
        return out.detach().float().cpu().numpy()
    # named outputs become dicts, so --encoder-output can pick one by its name
    if isinstance(out, tuple) and hasattr(out, "_fields"):                     # a namedtuple
        return {k: _to_numpy(v) for k, v in zip(out._fields, out)}
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        return {f.name: _to_numpy(getattr(out, f.name)) for f in dataclasses.fields(out)}
    if isinstance(out, (tuple, list)):
        return type(out)(_to_numpy(o) for o in out)
    if isinstance(out, dict):
        return {k: _to_numpy(v) for k, v in out.items()}
    if hasattr(out, "latent_dist"):        # diffusers-style encoder output
        return _to_numpy(out.latent_dist)
    if hasattr(out, "mean"):               # a distribution (torch.distributions.Normal): its mean
        return {"mean": _to_numpy(out.mean)}
    return out
