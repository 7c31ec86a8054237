"""One image file -> one RGB uint8 face crop [S, S, 3] (or a reason why not), and the
process pool that runs it over chunks of files.

Worker processes import this module, so it imports nothing heavy (no pandas); work moves in
chunks to amortise inter-process traffic.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import warnings
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# CelebA "Align&Cropped" images are 178x218 with the eyes at a fixed height. A 148x148 square
# at left=15, top=40 keeps the face (brows to chin) and little background: the crop most CelebA
# autoencoder/GAN work uses (e.g. DCGAN/BEGAN ports). Other image sizes: the box is scaled
# proportionally about the same centre and kept square.
CELEBA_CROP = {"ref_size": (178, 218), "left": 15, "top": 40, "side": 148}
FILTERS = {"lanczos": Image.LANCZOS, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
           "nearest": Image.NEAREST}
# Pillow first reduces by an integer factor, then resamples at most 3x: nearly Lanczos quality
# at a fraction of the cost for big photos.
REDUCING_GAP = 3.0
BACKGROUND = (255, 255, 255)  # transparent pixels are composited on white

CROP_TEXT = {
    "celeba": ("CelebA aligned crop: 148x148 square at left=15, top=40 of the 178x218 image "
               "(scaled proportionally, kept square, for other sizes), then Lanczos resize"),
    "center": ("centre square of the shorter side after EXIF orientation, then Lanczos resize; "
               "alpha composited on white; 16-bit scaled to 8-bit; palette/gray/CMYK converted to RGB"),
}


def crop_box(w: int, h: int, kind: str) -> tuple[float, float, float, float]:
    if kind == "celeba":
        rw, rh = CELEBA_CROP["ref_size"]
        sx, sy = w / rw, h / rh
        side = CELEBA_CROP["side"] * min(sx, sy)
        cx = (CELEBA_CROP["left"] + CELEBA_CROP["side"] / 2) * sx
        cy = (CELEBA_CROP["top"] + CELEBA_CROP["side"] / 2) * sy
        left = min(max(cx - side / 2, 0.0), w - side)
        top = min(max(cy - side / 2, 0.0), h - side)
        return left, top, left + side, top + side
    side = min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    return left, top, left + side, top + side


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB, saying nothing about content (crop comes later)."""
    if im.mode == "RGB":
        return im
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode.startswith("I"):  # 16/32-bit grayscale: scale to 8 bits instead of clipping
        a = np.asarray(im).astype(np.float64)
        hi = 65535.0 if (im.mode.startswith("I;16") or a.max(initial=0) > 255) else 255.0
        im = Image.fromarray(np.clip(a * (255.0 / hi) + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        bg.alpha_composite(rgba)
        return bg.convert("RGB")
    return im.convert("RGB")


def crop_text(kind: str, resize: str = "lanczos") -> str:
    if resize == "lanczos":
        return CROP_TEXT[kind]
    return CROP_TEXT[kind].replace("Lanczos resize", f"{resize} resize (Pillow's filter alone)")


def load_face(path: str, size: int, kind: str, resize: str = "lanczos") -> np.ndarray:
    """Decode, orient, convert, crop and resize one file. Raises on anything unreadable.
    Filters other than the default Lanczos are applied alone (no JPEG draft, no reducing gap): they
    exist to give an imported model the pixels its own training pipeline's ``Image.resize`` gave."""
    fast = resize == "lanczos"
    with Image.open(path) as im:
        w, h = im.size
        left, _, right, _ = crop_box(w, h, kind)
        side = right - left
        if fast and im.format == "JPEG" and 2 * size / side <= 0.5:
            # let libjpeg decode at 1/2..1/8 scale; still >= 2x the target so quality holds
            f = 2 * size / side
            im.draft("RGB", (math.ceil(w * f), math.ceil(h * f)))
        im.load()  # decode now so truncation raises here (LOAD_TRUNCATED_IMAGES is False)
        if kind == "center":
            im = ImageOps.exif_transpose(im)
        im = to_rgb(im)
        out = im.resize((size, size), FILTERS[resize], box=crop_box(*im.size, kind),
                        reducing_gap=REDUCING_GAP if fast else None)
        return np.asarray(out, dtype=np.uint8)


def reason_for(e: BaseException) -> str:
    if isinstance(e, UnidentifiedImageError):
        return "not an image: Pillow cannot identify the file"
    if isinstance(e, Image.DecompressionBombError):
        return f"too large: {e}"
    msg = str(e).replace("\n", " ")[:200]
    if "truncated" in msg.lower():
        return f"truncated: {msg}"
    return f"corrupt: {type(e).__name__}: {msg}"


def decode_chunk(task: tuple[list[str], int, str, str]) -> tuple[np.ndarray, list[str | None]]:
    """Decode a list of paths. Returns images [n, S, S, 3] (rows of failures left zero) and
    per file None (ok) or the reason it was skipped."""
    paths, size, kind, resize = task
    out = np.zeros((len(paths), size, size, 3), dtype=np.uint8)
    reasons: list[str | None] = []
    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a half-grey face is worse than a skipped one
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. palette-transparency notes: handled by to_rgb
            for i, p in enumerate(paths):
                try:
                    if os.path.getsize(p) == 0:
                        reasons.append("empty: the file has 0 bytes")
                        continue
                    out[i] = load_face(p, size, kind, resize)
                    reasons.append(None)
                except Exception as e:  # noqa: BLE001 - every failure is reported, none is fatal
                    reasons.append(reason_for(e))
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old
    return out, reasons


def render_chunk(task: tuple[int, int, int, int]) -> np.ndarray:
    """Synthetic faces start .. start+n-1 (each depends only on seed and its number)."""
    from core.data.synthetic import render_faces
    start, n, size, seed = task
    return render_faces(n, size=size, seed=seed, start=start)


def chunk_size(n: int, workers: int) -> int:
    # ~8 chunks per worker balance the load; 256 caps the bytes shipped back per chunk
    return max(8, min(256, math.ceil(n / (workers * 8))))


def _exit_with_parent(parent_pid: int, every_s: float = 0.5) -> None:
    """Pool initializer: end this worker soon after the process that made the pool dies.
    A parent killed with -9 never shuts its pool down, and workers waiting on their queue
    (children of the forkserver, not of the parent) would otherwise linger for minutes."""
    import threading
    import time

    def watch():
        while True:
            time.sleep(every_s)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # the pid was reused by someone else's process
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def map_chunks(func: Callable[[Any], Any], tasks: list, workers: int) -> list:
    """Results of ``func`` over ``tasks`` in order; in-process when one worker suffices."""
    if workers <= 1 or len(tasks) <= 1:
        yield from map(func, tasks)
        return
    # forkserver: never fork a process that may hold torch/BLAS threads; the server preloads
    # core.data.image_files once so workers start without re-importing numpy/PIL each
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(["core.data.image_files"] + (["core.data.synthetic"] if func is render_chunk else []))
    done = 0
    try:
        with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=ctx, initializer=_exit_with_parent,
                                 initargs=(os.getpid(),)) as ex:
            # a bounded window of chunks in flight: results never pile up in memory
            pending = deque(ex.submit(func, t) for t in tasks[:2 * workers])
            queued = len(pending)
            while pending:
                res = pending.popleft().result()
                if queued < len(tasks):
                    pending.append(ex.submit(func, tasks[queued]))
                    queued += 1
                done += 1
                yield res
    except BrokenProcessPool as e:
        if done:
            raise
        # workers could not even start (e.g. a __main__ that spawn cannot re-import): go serial
        warnings.warn(f"worker processes failed to start ({e}); preprocessing in this process", stacklevel=2)
        yield from map(func, tasks)
