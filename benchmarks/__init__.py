"""Benchmark scripts (run as ``python benchmarks/bench_x.py`` from the repository root) and their helpers."""
