"""Benchmarks: `python -m bench` (make bench). Each runs against its own database."""
