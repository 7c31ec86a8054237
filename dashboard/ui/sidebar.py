"""Sidebar: pick a run (every run in the cache), start a new one, see background jobs."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import api
from core.errors import AtlasError
from dashboard.state import jobs, session

DATASETS = {"synthetic": "synthetic faces (built in)", "celeba": "CelebA folder", "folder": "image folder"}
RESUMABLE = ("failed", "interrupted", "unknown")


def _flash() -> None:
    """A message set before a rerun (st.rerun would erase one drawn before it)."""
    msg = st.session_state.pop("_sidebar_flash", None)
    if msg:
        getattr(st, msg[0])(msg[1])


def run_picker(select: str | None = None) -> str | None:
    """The run picker; returns the picked run id (what every page shows) or None."""
    rids = api.run_ids()
    if select or "_select_run" in st.session_state:
        st.session_state["run_id"] = st.session_state.pop("_select_run", None) or select
    if select == jobs.DEMO_RUN_ID:      # the app picked the first look: follow the demo until the user picks
        st.session_state["_follow_demo"] = True
    if st.session_state.get("_follow_demo") and jobs.full_demo_done():
        st.session_state["run_id"], st.session_state["_follow_demo"] = jobs.FULL_DEMO_RUN_ID, False
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
        st.session_state["run_id"] = jobs.default_run(rids)
    rid = st.selectbox("Run", rids, key="run_id", help="Every run in the cache, complete or not.",
                       on_change=lambda: st.session_state.update(_follow_demo=False))
    paths = api.RunPaths.of(rid)
    s = jobs.run_summary(rid)
    st.caption(api.summary_line(s))
    _flash()
    if s["state"] == "done":
        _derive_caption(rid)
    elif s["state"] in RESUMABLE and not api.training_active(paths):
        if st.button("Resume training", help="Continues from the last checkpointed epoch."):
            if not api.resume_training(rid):
                st.session_state["_sidebar_flash"] = ("error", "this run has no configuration to resume "
                                                               "from; start it as a new run")
            st.rerun()
    busy = [r for r in rids if r != rid and api.training_active(api.RunPaths.of(r))]
    if busy:
        st.caption("training in the background: " + ", ".join(busy))
    if st.session_state.get("_follow_demo") and rid == jobs.DEMO_RUN_ID:
        _follow_full_demo()
    return rid


@st.fragment(run_every=3.0)
def _follow_full_demo() -> None:
    """While the first look is shown: start the fuller demo once the first look is complete,
    say how far it is, and reload the app on it when it is done (same tab, no reload)."""
    jobs.ensure_full_demo()
    if jobs.full_demo_done():
        st.rerun(scope="app")
    s = api.run_status(api.RunPaths.of(jobs.FULL_DEMO_RUN_ID))
    if s.get("state") in ("training", "preparing", "encoding", "starting"):
        ep = f", epoch {s['epoch']}/{s['epochs']}" if s.get("epoch") and s.get("epochs") else ""
        st.caption(f"This is a first look (2,000 faces, 32 px, 3 epochs). `{jobs.FULL_DEMO_RUN_ID}` (6,000 faces, "
                   f"64 px, z 256, 8 epochs) is training{ep}; the pages switch to it when it is done.")


def _derive_caption(rid: str) -> None:
    """The derivation's progress (state.jobs.ensure_derived starts it when needed)."""
    ds = jobs.ensure_derived(rid)
    if ds.get("state") == "running":
        st.caption(f"UMAP being fitted in the background: {ds.get('message', '')} "
                   f"({100 * ds.get('fraction', 0):.0f}%)")
    elif ds.get("state") == "failed":
        st.caption(f"UMAP job failed: {ds.get('message')}")
        if st.button("Retry UMAP"):
            api.start_derive(rid)


def new_run_form() -> None:
    with st.expander("New run", expanded=not api.run_ids()):
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
            cfg = api.make_config(**options)
        except (AtlasError, ValueError) as e:
            st.error(f"refused: {e}")
            return
        rid = api.default_run_id(cfg)
        state_now = api.run_status(api.RunPaths.of(rid)).get("state")
        if state_now == "done":
            st.session_state["_sidebar_flash"] = ("info", f"run {rid} already exists: selected it")
        elif not api.start_training(rid, cfg):
            st.session_state["_sidebar_flash"] = ("info", f"run {rid} is already being trained")
        session.select_run(rid)
        st.rerun()
