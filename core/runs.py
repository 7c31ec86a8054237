"""Public entry point: ``open_run(run_id)`` and the run listing (live in core.store.runs)."""
from core.store.runs import Run, list_runs, open_run

__all__ = ["Run", "list_runs", "open_run"]
