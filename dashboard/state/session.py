"""Session state shared by the pages: the selected run and the cache it lives in (the batch
being explored lives in dashboard.state.batches)."""
from __future__ import annotations

import streamlit as st

from core import api


def root() -> str:
    return str(api.cache_root())


def run_id() -> str | None:
    return st.session_state.get("run_id")


def select_run(rid: str) -> None:
    """Make ``rid`` the picked run on the next rerun (the picker's key cannot be set once drawn)."""
    st.session_state["_select_run"] = rid
