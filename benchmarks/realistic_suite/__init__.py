"""The realistic suite of ``benchmarks.realistic``: glossator's services, about 1,000 tests.

``benchmarks.realistic.write_realistic_suite`` copies the ``scenarios_*.py`` modules into a
suite folder as ``test_*.py``, writes ``counts.json`` (how many parametrised cases each
scenario gets), a ``pytest.ini`` and one of the two conftests:

* ``conftest_pgsandbox.py``: pgsandbox's session factory handed to glossator, as
  glossator's own ``tests/integration/conftest.py`` does;
* ``conftest_nullpool.py``: the way before pgsandbox, one database migrated once by the
  controller and a new ``NullPool`` engine per test.

Both load :mod:`benchmarks.realistic_suite.fixtures` (users, a course, a workspace, a
document, all with unique data) and run the very same test modules.
"""
