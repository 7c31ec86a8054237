"""An ONNX encoder or decoder run by onnxruntime (CPU; CUDA when the GPU build is installed).

ONNX files are data: loading one runs no Python code of its author. Keras / TensorFlow models
come this way (``python -m tf2onnx.convert --saved-model DIR --output enc.onnx``). The input's
declared shape tells channels first/last and the image size, so they need not be typed in.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import BadInputError

_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
           "tensor(uint8)": np.uint8}


def _providers(device: str) -> list[str]:
    import onnxruntime as ort

    have = ort.get_available_providers()
    want = ["CPUExecutionProvider"] if device == "cpu" else ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return [p for p in want if p in have] or have


def image_layout(s: list) -> tuple[str, int, int] | None:
    """(layout, size, channels) of an image batch shape [B, C, S, S] or [B, S, S, C], else None."""
    if len(s) != 4:
        return None
    if s[1] in (1, 3) and isinstance(s[2], int) and s[2] == s[3] and s[2] > 3:
        return "nchw", s[2], s[1]
    if s[3] in (1, 3) and isinstance(s[1], int) and s[1] == s[2] and s[1] > 3:
        return "nhwc", s[1], s[3]
    return None


class OnnxPart:
    """One ONNX graph with exactly one input; ``run(x)`` returns ``{output name: array}``."""

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as e:  # pragma: no cover - requirements.txt installs it
            raise BadInputError("ONNX models need the onnxruntime package: pip install onnxruntime") from e
        self.path = Path(path)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=_providers(device))
        except Exception as e:  # onnxruntime raises its own exception types for a bad file
            raise BadInputError(f"{self.path} is not a readable ONNX model ({type(e).__name__}: "
                                f"{str(e).splitlines()[0][:200]})") from e
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise BadInputError(f"{self.path} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                                "an encoder or decoder must take exactly one")
        self.input = inputs[0]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.dtype = _DTYPES.get(self.input.type)
        if self.dtype is None:
            raise BadInputError(f"{self.path}: input {self.input.name!r} has type {self.input.type}; "
                                "expected a float or uint8 tensor")

    @property
    def shape(self) -> list:
        """Declared input shape; strings or None stand for free (dynamic) dimensions."""
        return list(self.input.shape)

    def fixed_batch(self) -> int | None:
        b = self.shape[0] if self.shape else None
        return b if isinstance(b, int) and b > 0 else None

    def image_layout(self) -> tuple[str, int, int] | None:
        """(layout, image size, channels) read off a 4-D image input, or None when it says nothing."""
        return image_layout(self.shape)

    def output_layout(self) -> tuple[str, int, int] | None:
        """The same, read off the first output (a decoder's image)."""
        return image_layout(list(self.session.get_outputs()[0].shape))

    def latent_dim(self) -> int | None:
        s = self.shape
        return s[1] if len(s) == 2 and isinstance(s[1], int) else None

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Whole batch at once, or in chunks of the graph's fixed batch size (last one padded)."""
        x = x.astype(self.dtype, copy=False)
        fixed = self.fixed_batch()
        if fixed is None or len(x) == fixed:
            outs = self.session.run(None, {self.input.name: x})
            return dict(zip(self.output_names, outs))
        parts = []
        for i in range(0, len(x), fixed):
            chunk = x[i:i + fixed]
            pad = fixed - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
            parts.append([o[:fixed - pad] for o in self.session.run(None, {self.input.name: chunk})])
        return {name: np.concatenate([p[k] for p in parts]) for k, name in enumerate(self.output_names)}
