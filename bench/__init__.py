"""Benchmarks: every figure beside a floor measured in the same run (see bench/README.md)."""
