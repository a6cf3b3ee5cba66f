"""Benchmarks of database test strategies (``nox -s bench``); see docs/benchmarks.md."""
