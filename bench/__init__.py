"""Benchmarks: each ``bench/NAME.py`` runs as ``./run bench NAME``; ``_*.py`` are their parts."""
