"""Monitoring: reference profiles, drift statistics, data quality, verdicts and reports."""
