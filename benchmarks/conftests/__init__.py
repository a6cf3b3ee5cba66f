"""One conftest per strategy; the suite generator copies the chosen one as ``conftest.py``.

Each provides the fixture ``bench_sessionmaker``: the session factory the generated tests
hand to the service. What differs is only where it connects and how tests are isolated.
"""
