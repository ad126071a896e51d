"""Benchmarks (not part of `make test`): run each with `python -m bench.<name>`."""
