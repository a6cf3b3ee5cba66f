"""Export: annotated documents to PDF through LaTeX, run by a worker from a PostgreSQL queue.

* :mod:`glossator.export.latex` renders a document and its highlights as LaTeX;
* :mod:`glossator.export.compile` compiles LaTeX to PDF with latexmk;
* :mod:`glossator.export.queue` is the job queue on the ``export_jobs`` table;
* :mod:`glossator.export.worker` is the process that runs the jobs (``glossator worker``).

Applications do not use this package directly: they call
:func:`glossator.services.request_export` and poll :func:`glossator.services.get_export`.
See docs/export.md.
"""

from __future__ import annotations

from glossator.export.compile import LatexError, LatexNotInstalled, LatexTimeout, compile_latex
from glossator.export.latex import ExportDocument, ExportHighlight, escape_text, render_latex
from glossator.export.pipeline import Renderer, export_document, load_renderer
from glossator.export.worker import ExportWorker, WorkerConfig

__all__ = [
    "ExportDocument",
    "ExportHighlight",
    "ExportWorker",
    "LatexError",
    "LatexNotInstalled",
    "LatexTimeout",
    "Renderer",
    "WorkerConfig",
    "compile_latex",
    "escape_text",
    "export_document",
    "load_renderer",
    "render_latex",
]
