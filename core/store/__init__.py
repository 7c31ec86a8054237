"""Run store: atomic writes, locks, run folders (the one place that knows their file names)."""
