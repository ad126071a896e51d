"""Evaluation: metrics, slices, gates, model checks, plots and reports."""
