"""Small UI pieces shared by the pages: face grids, training progress, 'is there a run?'."""
from __future__ import annotations

import functools
import io
import math
import time
from typing import Any, Callable

import numpy as np
import streamlit as st

from core import api
from core.errors import AtlasError, BrokenArtifactError, NotReadyError
from dashboard.state import resources, session

FACE_PX = 112          # faces are shown at least this many pixels wide


def face_jpeg(images: np.ndarray, cols: int = 7, face_px: int = FACE_PX) -> tuple[bytes, int]:
    """JPEG (quality 92) of a face grid at its own resolution, and the width to show it at so
    each face is >= face_px wide. The browser enlarges it; a PNG would cost ~5 ms to encode
    (and st.image re-encodes a PNG without alpha to JPEG unless told otherwise), JPEG 0.4 ms.
    Downloads stay lossless PNG (api.face_grid_png)."""
    from PIL import Image

    s = images.shape[1]
    scale = max(1, math.ceil(face_px / s))
    cols = max(1, min(cols, len(images)))
    grid = api.face_grid(images, cols=cols)
    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format="JPEG", quality=92)
    return buf.getvalue(), grid.shape[1] * scale


def show_faces(images: np.ndarray, caption: str, cols: int = 7, face_px: int = FACE_PX) -> None:
    jpeg, width = face_jpeg(images, cols, face_px)
    st.image(jpeg, caption=caption, width=width, output_format="JPEG")


def fmt_eta(seconds) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "–"
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}h {m % 60:02d}m" if m >= 60 else f"{m}m {s:02d}s"


def progress_body(st_: dict) -> None:
    """Epoch, loss, images/s and ETA of a run being prepared, trained or encoded."""
    state_ = st_.get("state", "unknown")
    epoch, epochs = st_.get("epoch") or 0, st_.get("epochs") or 0
    step, steps = st_.get("step") or 0, st_.get("steps") or 0
    if state_ == "training" and epochs:
        frac = ((epoch - 1) + (step / steps if steps else 0)) / epochs
    elif state_ == "encoding" and st_.get("total"):
        frac = st_.get("encoded", 0) / st_["total"]
    else:
        frac = 0.0
    st.progress(min(max(frac, 0.0), 1.0), text=f"{state_}: {st_.get('message', '')}")
    c = st.columns(4)
    c[0].metric("epoch", f"{epoch}/{epochs}" if epochs else "–")
    loss = st_.get("loss", st_.get("train_loss"))
    c[1].metric("loss (MSE/pixel)", f"{loss:.5f}" if isinstance(loss, (int, float)) else "–")
    ips = st_.get("images_per_s")
    c[2].metric("images/s", f"{ips:.0f}" if isinstance(ips, (int, float)) else "–")
    c[3].metric("ETA (training)", fmt_eta(st_.get("eta_s")) if state_ == "training" else "–",
                help="time left for the remaining epochs at the current speed; encoding follows")
    if st_.get("updated"):
        st.caption(f"status updated {time.time() - st_['updated']:.0f} s ago; training runs in its own "
                   f"process, so reloading this page neither restarts nor loses it.")


@st.fragment(run_every=2.0)
def training_panel(paths: api.RunPaths) -> None:
    """Live progress of a run not yet complete; reruns the whole app once it is done."""
    st_ = api.run_status(paths)
    active = api.training_active(paths)
    if st_.get("state") == "done":
        st.success("training finished: loading the run")
        st.rerun()
    st.subheader(f"Run `{paths.run_id}` is not ready yet")
    if active or st_.get("state") == "starting":
        progress_body(st_)
    elif st_.get("state") == "failed":
        st.error(f"training failed: {st_.get('message')}")
    elif st_.get("state") == "broken":     # the store's summary names the file and the command that mends it
        st.error(f"this run is broken: {api.Run(paths.folder).summary().get('problem') or st_.get('message')}")
    elif st_.get("state") == "interrupted":
        st.warning(f"training of this run was interrupted (last checkpoint: epoch "
                   f"{int(st_.get('checkpoint_epoch') or 0)}). Resume it from the sidebar.")
    else:
        st.warning(f"training of this run is not running (last state: {st_.get('state')}). "
                   "Start it again from the sidebar (it resumes from the last finished epoch).")
    try:   # history.json is rewritten after every epoch: the curve grows while the run trains
        hist = api.Run(paths.folder).history()
    except AtlasError:
        hist = []
    if hist:
        from dashboard.charts import stats as charts_stats

        st.plotly_chart(charts_stats.loss_curves(hist), width="stretch", key="live_loss")
        st.caption(f"Loss so far ({len(hist)} epochs finished); the curve grows while the training runs.")
    tail = api.log_tail(paths.train_log)
    if tail:
        with st.expander("training log (last lines)"):
            st.code(tail, language=None)


def describe(e: AtlasError) -> str:
    """What is broken and how to repair it, in words; a broken file is named within its run
    (or data cache) folder, never by its full server path."""
    if isinstance(e, BrokenArtifactError):
        where = f"{e.path.parent.name}/{e.path.name}"
        return f"**{where}** is broken: {e.why}." + (f" To repair it: {e.repair}." if e.repair else "")
    return str(e)


def show_error(e: AtlasError) -> None:
    (st.info if isinstance(e, NotReadyError) else st.error)(describe(e))


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A page's render (or fragment): the errors a user can meet (core.errors) become a message
    on the page; anything else is a bug and shows as one."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AtlasError as e:
            show_error(e)
    return run


def complete_run() -> api.Run | None:
    """The selected run if it is complete; otherwise explain (or show progress) and return None."""
    rid = session.run_id()
    if rid is None:
        st.info("No run selected. Start one from the sidebar (“New run”).")
        return None
    st.caption(f"run `{rid}`")
    paths = api.RunPaths.of(rid)
    if not paths.exists():   # launched moments ago (the picker lists it as starting): show it start
        training_panel(paths)
        return None
    run = api.open_run(rid)             # UnknownRunError: shown by the page guard
    if run.complete:
        return run
    training_panel(api.RunPaths.of(rid))
    return None


def open_page(title: str) -> api.Run | None:
    """Every page's opening: its title, the run it shows, then that run if complete (else why not)."""
    st.title(title)
    return complete_run()


def stats_page(title: str, min_d: int = 1, decodes: bool = False):
    """``open_page`` plus the run's latent statistics: (run, stats), or None when missing.
    ``decodes``: the page is about decoded faces, so a run imported without a decoder gets
    the reason instead."""
    run = open_page(title)
    if run is None:
        return None
    if decodes and not need((run.external or {}).get("has_decoder", True),
                            f"{title} shows decoded faces, and this run was imported without a decoder: "
                            "import the model again with --decoder (the statistics pages work without one)."):
        return None
    s = resources.stats(run.run_id, session.root())
    if not need(s.d >= min_d, f"{title} need at least {min_d} latent components."):
        return None
    return run, s


def need(condition: bool, message: str) -> bool:
    """Show why a chart is missing instead of an empty plot."""
    if not condition:
        st.info(message)
    return condition
