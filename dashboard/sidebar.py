"""Sidebar: pick a run (every run in the cache), start a new one, see background jobs."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.config import make_config
from core.errors import AtlasError
from core.jobs import launch
from core.jobs.train_run import default_run_id
from core.store.paths import RunPaths
from core.store.runs import Run, summary_line
from dashboard import jobs, state

DATASETS = {"synthetic": "synthetic faces (built in)", "celeba": "CelebA folder", "folder": "image folder"}
RESUMABLE = ("failed", "interrupted", "unknown")


def _summary(rid: str) -> dict:
    """The store's one description of a run, with the launcher's 'starting' state."""
    paths = RunPaths.of(rid)
    s = Run(paths.folder).summary() if paths.exists() else {"run_id": rid, "problem": None}
    st_ = launch.run_status(paths)
    if st_.get("state") == "starting" or not paths.exists():
        s["state"] = "starting"
    return s


def _default(rids: list[str]) -> str:
    def mtime(rid: str) -> float:
        p = RunPaths.of(rid).status
        return p.stat().st_mtime if p.exists() else 0.0

    done = [r for r in rids if launch.run_status(RunPaths.of(r)).get("state") == "done"]
    return max(done or rids, key=mtime)


def _flash() -> None:
    """A message set before a rerun (st.rerun would erase one drawn before it)."""
    msg = st.session_state.pop("_sidebar_flash", None)
    if msg:
        getattr(st, msg[0])(msg[1])


def run_picker(select: str | None = None) -> str | None:
    """The run picker; returns the picked run id (what every page shows) or None."""
    rids = launch.run_ids()
    if select or "_select_run" in st.session_state:
        st.session_state["run_id"] = st.session_state.pop("_select_run", None) or select
    wanted = st.query_params.get("run")
    if wanted is not None and not st.session_state.get("_url_run_taken"):   # a link to a run: ?run=ID
        st.session_state["_url_run_taken"] = True
        if wanted in rids:
            st.session_state["run_id"] = wanted
        else:   # never open another run in silence; repr() keeps markup in the id inert
            st.error(f"No run {wanted[:80]!r} in the cache (the link's ?run=); known runs: "
                     f"{', '.join(rids[:20]) or 'none'}." + (" Showing the most recent one." if rids else ""))
    if not rids:
        st.info("No runs in the cache yet.")
        st.session_state.pop("run_id", None)
        _flash()
        return None
    if st.session_state.get("run_id") not in rids:
        st.session_state["run_id"] = _default(rids)
    rid = st.selectbox("Run", rids, key="run_id", help="Every run in the cache, complete or not.")
    paths = RunPaths.of(rid)
    s = _summary(rid)
    st.caption(summary_line(s))
    _flash()
    if s["state"] == "done":
        _ensure_derived(rid, paths)
    elif s["state"] in RESUMABLE and not launch.training_active(paths):
        if st.button("Resume training", help="Continues from the last checkpointed epoch."):
            if not launch.resume_training(rid):
                st.session_state["_sidebar_flash"] = ("error", "this run has no configuration to resume "
                                                               "from; start it as a new run")
            st.rerun()
    busy = [r for r in rids if r != rid and launch.training_active(RunPaths.of(r))]
    if busy:
        st.caption("training in the background: " + ", ".join(busy))
    return rid


def _ensure_derived(rid: str, paths: RunPaths) -> None:
    """Statistics and UMAP are fitted once per run by a background job; start it if needed."""
    ds = launch.derive_state(paths)
    stale = ds.get("state") in ("missing", "interrupted") or (
        ds.get("state") == "done" and not launch.umap_ready(paths))
    if stale and jobs.auto_jobs():
        launch.start_derive(rid)
        ds = launch.derive_state(paths)
    if ds.get("state") == "running":
        st.caption(f"UMAP being fitted in the background: {ds.get('message', '')} "
                   f"({100 * ds.get('fraction', 0):.0f}%)")
    elif ds.get("state") == "failed":
        st.caption(f"UMAP job failed: {ds.get('message')}")
        if st.button("Retry UMAP"):
            launch.start_derive(rid)


def new_run_form() -> None:
    with st.expander("New run", expanded=not launch.run_ids()):
        with st.form("new_run", border=False):
            dataset = st.radio("Dataset", list(DATASETS), format_func=DATASETS.get, key="new_dataset")
            data_dir = st.text_input("Path (CelebA root or image folder)", key="new_path",
                                     placeholder="/data/celeba", help="Not needed for synthetic faces.")
            c1, c2 = st.columns(2)
            size = c1.selectbox("Image size", [32, 64, 96, 128], index=1, key="new_size")
            z_dim = c2.selectbox("z_dim", [16, 32, 64, 128, 256, 512], index=4, key="new_zdim")
            c3, c4 = st.columns(2)
            epochs = c3.number_input("Epochs", 1, 500, 10, key="new_epochs")
            n_syn = c4.number_input("Synthetic faces", 500, 500_000, 10_000, step=1000, key="new_nsyn",
                                    help="Only for synthetic faces.")
            submitted = st.form_submit_button("Start training", type="primary")
        if not submitted:
            return
        if dataset != "synthetic" and not (data_dir and Path(data_dir).expanduser().is_dir()):
            st.error(f"not a folder: {data_dir!r}")
            return
        options = dict(dataset=dataset, image_size=int(size), z_dim=int(z_dim), epochs=int(epochs))
        if dataset == "synthetic":   # the face count means nothing to (and must not key) other runs
            options["synthetic_n"] = int(n_syn)
        else:
            options["data_dir"] = str(Path(data_dir).expanduser())
        try:
            cfg = make_config(**options)
        except (AtlasError, ValueError) as e:
            st.error(f"refused: {e}")
            return
        rid = default_run_id(cfg)
        state_now = launch.run_status(RunPaths.of(rid)).get("state")
        if state_now == "done":
            st.session_state["_sidebar_flash"] = ("info", f"run {rid} already exists: selected it")
        elif not launch.start_training(rid, cfg):
            st.session_state["_sidebar_flash"] = ("info", f"run {rid} is already being trained")
        state.select_run(rid)
        st.rerun()
