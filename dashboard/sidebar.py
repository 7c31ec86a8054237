"""Sidebar: pick a run (every run in the cache), start a new one, see background jobs."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.cli import train_config
from core.config import RunConfig
from core.jobs.train_run import default_run_id
from core.store.runs import runs_dir
from dashboard import jobs

DATASETS = {"synthetic": "synthetic faces (built in)", "celeba": "CelebA folder", "folder": "image folder"}
def _describe(folder: Path, status: dict) -> str:
    """One line under the picker (kept out of the option labels, which a browser may not
    refresh when only their text changes)."""
    from core.store import atomic

    s = status.get("state", "unknown")
    try:
        cfg = atomic.read_json(folder / "config.json")
        c, n = cfg["config"], cfg.get("manifest", {}).get("n_ok")
        what = (f"{c['data']['dataset']} · {c['model']['image_size']} px · z_dim {c['model']['z_dim']}"
                + (f" · {n:,} images" if n else ""))
    except (OSError, ValueError, KeyError):
        what = ""
    return f"**{s}**" + (f" · {what}" if what else "")


def _default(folders: list[Path]) -> str:
    done = [f for f in folders if jobs.read_status(f).get("state") == "done"]
    pick = max(done or folders, key=lambda f: (f / "status.json").stat().st_mtime
               if (f / "status.json").exists() else 0)
    return pick.name


def run_picker(select: str | None = None) -> None:
    folders = jobs.run_folders()
    if select or "_select_run" in st.session_state:
        st.session_state["run_id"] = st.session_state.pop("_select_run", None) or select
    if not folders:
        st.info("No runs in the cache yet.")
        st.session_state.pop("run_id", None)
        return
    by_id = {f.name: f for f in folders}
    if st.session_state.get("run_id") not in by_id:
        st.session_state["run_id"] = _default(folders)
    rid = st.selectbox("Run", list(by_id), key="run_id", help="Every run in the cache, complete or not.")
    folder = by_id[rid]
    status = jobs.read_status(folder)
    st.caption(_describe(folder, status))
    if status.get("state") == "done":
        _ensure_derived(rid, folder)
    elif not jobs.training_active(folder) and status.get("state") in ("failed", "unknown", "training",
                                                                      "preparing", "encoding"):
        if st.button("Resume training", help="Continues from the last finished epoch."):
            if not jobs.resume_training(rid):
                st.error("this run has no recorded options to resume from; start it as a new run")
            st.rerun()
    busy = [f.name for f in folders if f.name != rid and jobs.training_active(f)]
    if busy:
        st.caption("training in the background: " + ", ".join(busy))


def _ensure_derived(rid: str, folder: Path) -> None:
    """Statistics and UMAP are fitted once per run by a background job; start it if needed."""
    ds = jobs.derive_status(folder)
    stale = ds.get("state") in ("missing", "interrupted") or (
        ds.get("state") == "done" and not jobs.umap_ready(folder))
    if stale and jobs.auto_jobs():
        jobs.start_derive(rid)
        ds = jobs.derive_status(folder)
    if ds.get("state") == "running":
        st.caption(f"UMAP being fitted in the background: {ds.get('message', '')} "
                   f"({100 * ds.get('fraction', 0):.0f}%)")
    elif ds.get("state") == "failed":
        st.caption(f"UMAP job failed: {ds.get('message')}")
        if st.button("Retry UMAP"):
            jobs.start_derive(rid)


def _config(dataset, data_dir, image_size, z_dim, epochs, synthetic_n) -> RunConfig:
    """Exactly the RunConfig the training subprocess will build (so the default ids agree)."""
    cmd = jobs.train_command("_", dataset=dataset, data_dir=data_dir, image_size=image_size,
                             z_dim=z_dim, epochs=epochs, synthetic_n=synthetic_n)
    return train_config(cmd[cmd.index("train") + 1:])


def new_run_form() -> None:
    with st.expander("New run", expanded=not jobs.run_folders()):
        with st.form("new_run", border=False):
            dataset = st.radio("Dataset", list(DATASETS), format_func=DATASETS.get, key="new_dataset")
            data_dir = st.text_input("Path (CelebA root or image folder)", key="new_path",
                                     placeholder="/data/celeba", help="Not needed for synthetic faces.")
            c1, c2 = st.columns(2)
            size = c1.selectbox("Image size", [32, 64, 96, 128], index=1, key="new_size")
            z_dim = c2.selectbox("z_dim", [16, 32, 64, 128, 256, 512], index=4, key="new_zdim")
            c3, c4 = st.columns(2)
            epochs = c3.number_input("Epochs", 1, 500, 10, key="new_epochs")
            n_syn = c4.number_input("Synthetic faces", 500, 500_000, 10_000, step=1000, key="new_nsyn")
            submitted = st.form_submit_button("Start training", type="primary")
        if not submitted:
            return
        if dataset != "synthetic" and not (data_dir and Path(data_dir).expanduser().is_dir()):
            st.error(f"not a folder: {data_dir!r}")
            return
        data_dir = str(Path(data_dir).expanduser()) if dataset != "synthetic" else None
        cfg = _config(dataset, data_dir, int(size), int(z_dim), int(epochs), int(n_syn))
        rid = default_run_id(cfg)
        folder = runs_dir() / rid
        if jobs.read_status(folder).get("state") == "done":
            st.info(f"run {rid} already exists: selected it")
        elif not jobs.start_training(rid, dataset=dataset, data_dir=data_dir, image_size=int(size),
                                     z_dim=int(z_dim), epochs=int(epochs), synthetic_n=int(n_syn)):
            st.info(f"run {rid} is already being trained")
        st.session_state["_select_run"] = rid
        st.rerun()
