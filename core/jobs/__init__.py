"""Whole jobs that leave artifacts in a run: training a run, deriving its statistics and map."""
