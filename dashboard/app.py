"""Streamlit entry point: ``streamlit run dashboard/app.py``. Registers the pages, draws the
sidebar (run picker, new run, background jobs) and runs the chosen page."""
from __future__ import annotations

import streamlit as st

from core import api
from core.errors import AtlasError
from dashboard.state import jobs
from dashboard.state.shutdown import exit_promptly_on_stop
from dashboard.ui.import_form import import_form
from dashboard.ui.sidebar import new_run_form, run_picker

PAGES = [
    ("views/overview.py", "Overview", ":material/dashboard:"),
    ("views/components.py", "Components", ":material/bar_chart:"),
    ("views/correlations.py", "Correlations", ":material/grid_on:"),
    ("views/projections.py", "Projections", ":material/scatter_plot:"),
    ("views/umap.py", "UMAP", ":material/bubble_chart:"),
    ("views/generator.py", "Generator", ":material/face:"),
    ("views/navigate.py", "Navigate", ":material/route:"),
    ("views/directions.py", "Directions", ":material/open_with:"),
    ("views/quality.py", "Quality", ":material/leaderboard:"),
]


def main() -> None:
    exit_promptly_on_stop()
    st.set_page_config(page_title="Latent-space atlas", page_icon=":material/face:", layout="wide")
    try:        # AE_CACHE_DIR naming a file would otherwise look like an empty cache (and get a demo run)
        api.check_cache_dir()
    except AtlasError as e:
        st.error(str(e))
        st.stop()
    pages = [st.Page(path, title=title, icon=icon, default=(i == 0))
             for i, (path, title, icon) in enumerate(PAGES)]
    page = st.navigation(pages)
    spawned = jobs.ensure_demo()   # first launch: an empty cache trains the demo run
    with st.sidebar:
        run_picker(select=jobs.DEMO_RUN_ID if spawned else None)
        new_run_form()
        import_form()
    page.run()


main()
