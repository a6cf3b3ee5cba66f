"""A small shop application used only by the benchmarks.

Twelve tables with foreign keys and indexes (``models``), one alembic migration that
creates them (``migrations/``), and one service function (``service.place_order``) whose
unit of work every generated benchmark test performs. It is its own schema, apart from
glossator's, so the benchmark measures the strategies and not glossator's data model.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ALEMBIC_INI"]

#: The benchmark schema's alembic.ini (``sqlalchemy.url`` is set by whoever migrates).
ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"
