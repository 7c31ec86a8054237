"""A prompt exit when the server is stopped (SIGTERM, Ctrl+C).

Streamlit stops its web server at once, but the interpreter then joins every script thread
(a page still loading a model or importing scipy) and tears down torch, numba and FAISS:
seconds, during which the port stays taken and `kill` looks ignored. Nothing is lost by
skipping that: every file this app writes is written to a temporary name and renamed, and
background jobs (training, derive, quality, import) are processes of their own session that
keep running. So once the server has stopped, the process ends.
"""
from __future__ import annotations

import os
import sys
import threading

_installed = False


def _is_streamlit_server() -> bool:
    """True in a process serving the app (``streamlit run``); never under pytest's AppTest,
    which runs pages on a stand-in runtime and whose exit code must stand."""
    from streamlit import runtime
    from streamlit.runtime.runtime import Runtime

    return runtime.exists() and type(runtime.get_instance()) is Runtime


def _exit_now() -> None:
    print("stopped; background jobs keep running", file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe: nothing left to say
            pass
    os._exit(0)


def exit_promptly_on_stop() -> None:
    """Once per server process: end it right after the server stops. Threading's exit hooks run
    in reverse order of registration, so this one runs before the hook that would join the
    script threads (concurrent.futures registers that one at import, earlier than this)."""
    global _installed
    if _installed or not _is_streamlit_server():
        return
    try:
        threading._register_atexit(_exit_now)
    except RuntimeError:   # the interpreter is already shutting down
        return
    _installed = True
