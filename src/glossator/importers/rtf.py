"""RTF to HTML through LibreOffice, without blocking the event loop.

Each call runs ``soffice --headless --convert-to html`` in a temporary folder of its own,
with a private LibreOffice profile (``-env:UserInstallation``): LibreOffice refuses to
start a second instance on a profile in use (it hands the job to the first one instead),
so a shared profile serialises, or breaks, concurrent conversions.

Before anything is spawned, the input is checked: its size against
:attr:`RtfOptions.max_bytes` (10 MiB by default), its ``{\\rtf`` header, and that its
groups are closed (a truncated upload). The process runs in a new session
(:func:`glossator._process_group.start_group`), so on a timeout or a cancellation, even
one that lands while the process is being started, the whole process group (``oosplash``
and ``soffice.bin``) is killed, never a lone parent.

LibreOffice writes metadata that changes from run to run (``generator``, ``created``,
``changed``); :func:`strip_volatile_metadata` removes it, so the same RTF gives the same
bytes (fixtures rely on it). Images are not kept: LibreOffice writes them as separate
files, which the sanitiser's URL rules would drop anyway.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO, Final

from glossator._process_group import kill_group, start_group
from glossator.importers.errors import (
    ConversionTimedOut,
    ConverterMissing,
    DocumentTooLarge,
    ImportFailed,
    NotRtf,
    TruncatedRtf,
)
from glossator.importers.html import NormalizedDocument, normalize_html

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMEOUT",
    "INSTALL_HINT",
    "RtfOptions",
    "check_rtf",
    "convert_rtf_to_html",
    "find_soffice",
    "import_rtf",
    "libreoffice_version",
    "strip_volatile_metadata",
]

DEFAULT_MAX_BYTES: Final = 10 * 1024 * 1024
DEFAULT_TIMEOUT: Final = 60.0
INSTALL_HINT: Final = "apt-get install libreoffice-writer-nogui"
_SOFFICE_NAMES: Final = ("soffice", "libreoffice")
_RTF_MAGIC: Final = b"{\\rtf"
# Metadata LibreOffice stamps into its HTML that differs between runs or machines.
_VOLATILE_META: Final = re.compile(
    rb'[ \t]*<meta name="(?:generator|created|changed|changedby)" content="[^"]*"\s*/?>\r?\n?',
    re.IGNORECASE,
)
# A fixed locale and timezone: LibreOffice formats dates and numbers with them.
_CONVERSION_ENV: Final = {"TZ": "UTC", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


@dataclasses.dataclass(frozen=True, slots=True)
class RtfOptions:
    """How RTF conversion runs.

    Attributes:
        soffice: Path of the ``soffice`` program; ``None`` finds it on ``PATH``.
        timeout: Seconds a conversion may take before its process group is killed.
        max_bytes: The largest RTF accepted; larger ones are refused before spawning.
    """

    soffice: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES

    def __post_init__(self) -> None:
        """Reject limits no conversion could work with."""
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")
        if self.max_bytes < len(_RTF_MAGIC):
            raise ValueError(f"max_bytes must be at least {len(_RTF_MAGIC)}, got {self.max_bytes}")


def find_soffice(explicit: str | None = None) -> str:
    """Locate LibreOffice's ``soffice``.

    Args:
        explicit: A path or program name to use instead of searching ``PATH``.

    Returns:
        The program's absolute path.

    Raises:
        ConverterMissing: It is not installed; the message says what to install.
    """
    candidates = (explicit,) if explicit else _SOFFICE_NAMES
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    looked_for = explicit or " or ".join(_SOFFICE_NAMES)
    raise ConverterMissing(
        f"LibreOffice is needed to import RTF, but {looked_for!r} was not found on PATH; "
        f"install it (Debian/Ubuntu: {INSTALL_HINT}) or set the soffice path"
    )


def check_rtf(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Refuse input that is too large, is not RTF, or was cut off.

    Args:
        data: The file's bytes.
        max_bytes: The largest size accepted.

    Raises:
        DocumentTooLarge: ``data`` is longer than ``max_bytes``.
        NotRtf: It does not start with ``{\\rtf`` (after an optional UTF-8 BOM and
            whitespace).
        TruncatedRtf: Its outermost group is never closed.
    """
    if len(data) > max_bytes:
        raise DocumentTooLarge(len(data), max_bytes)
    body = data.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not body.startswith(_RTF_MAGIC):
        start = body[:16].decode("ascii", "backslashreplace")
        raise NotRtf(
            "the file is not RTF: it does not start with '{\\rtf' "
            f"(it starts with {start!r}); save it as Rich Text Format and upload it again"
        )
    if not _groups_closed(body):
        raise TruncatedRtf(
            "the RTF file is incomplete: its groups are never closed, so it was probably "
            "cut off during upload or copying; upload the whole file again"
        )


def _groups_closed(body: bytes) -> bool:
    """Whether the first group of ``body`` closes (escaped braces do not count)."""
    if b"\\bin" in body:
        # \binN embeds raw bytes that may contain braces; leave such files to LibreOffice.
        return body.rstrip(b"\x00 \t\r\n").endswith(b"}")
    depth = 0
    escaped = False
    for byte in body:
        if escaped:
            escaped = False
        elif byte == 0x5C:  # backslash
            escaped = True
        elif byte == 0x7B:  # {
            depth += 1
        elif byte == 0x7D:  # }
            depth -= 1
            if depth == 0:
                return True
    return False


def strip_volatile_metadata(html: bytes) -> bytes:
    """Remove the ``generator``/``created``/``changed`` meta tags LibreOffice writes."""
    return _VOLATILE_META.sub(b"", html)


async def convert_rtf_to_html(
    data: bytes, options: RtfOptions | None = None, *, checked: bool = False
) -> str:
    """Convert RTF to HTML with LibreOffice (raw, not yet sanitised).

    Args:
        data: The RTF file's bytes.
        options: Limits and the ``soffice`` path; defaults when omitted.
        checked: The caller already ran :func:`check_rtf` on ``data`` with these options'
            ``max_bytes`` (the web app runs it in a worker process: it reads every byte).

    Returns:
        LibreOffice's HTML without its volatile metadata (UTF-8 decoded).

    Raises:
        DocumentTooLarge, NotRtf, TruncatedRtf: The input failed a check (nothing ran).
        ConverterMissing: LibreOffice is not installed.
        ConversionTimedOut: It took longer than ``options.timeout``.
        ImportFailed: It exited with an error or wrote no HTML.
    """
    options = options or RtfOptions()
    if not checked:
        check_rtf(data, max_bytes=options.max_bytes)
    soffice = find_soffice(options.soffice)
    with tempfile.TemporaryDirectory(prefix="glossator-rtf-") as workdir:
        work = Path(workdir)
        source = work / "document.rtf"
        await asyncio.to_thread(source.write_bytes, data)
        outdir = work / "out"
        argv = [
            soffice,
            f"-env:UserInstallation={(work / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            "--nologo",
            "--nodefault",
            "--nolockcheck",
            "--convert-to",
            "html:HTML (StarWriter)",
            "--outdir",
            str(outdir),
            str(source),
        ]
        # HOME too: LibreOffice and its libraries look for settings under it.
        env = {**os.environ, **_CONVERSION_ENV, "HOME": str(work)}
        _, stderr = await _run_process_group(argv, env=env, timeout=options.timeout)
        produced = outdir / "document.html"
        if not produced.is_file():
            detail = stderr.decode("utf-8", "replace").strip()[-500:] or "no message"
            raise ImportFailed(f"LibreOffice could not convert the RTF file ({detail})")
        raw = await asyncio.to_thread(produced.read_bytes)
    return strip_volatile_metadata(raw).decode("utf-8", "replace")


async def _run_process_group(
    argv: list[str],
    *,
    env: dict[str, str],
    timeout: float,  # noqa: ASYNC109 -- the group must be killed on expiry, see the finally
) -> tuple[bytes, bytes]:
    """Run ``argv`` in a new session; kill its whole group on timeout or cancellation.

    Returns:
        What the process wrote to stdout and to stderr.

    Raises:
        ConversionTimedOut: It ran longer than ``timeout`` seconds.
        ImportFailed: It exited with a non-zero status.
    """
    # Output goes to files, not pipes: asyncio's wait() for a piped process also waits
    # until every pipe is closed, so a process of the group that outlived the kill (or a
    # grandchild that left it) could hold the wait, and the request, up to its own end.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = await start_group(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err, env=env
        )
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            raise ConversionTimedOut(
                f"LibreOffice took longer than {timeout:g} s and was stopped; try a smaller "
                "document or raise the limit (RtfOptions.timeout)"
            ) from None
        finally:
            if process.returncode is None:
                await kill_group(process)
        stdout, stderr = _head(out), _tail(err)
    if process.returncode != 0:
        detail = stderr.decode("utf-8", "replace").strip()[-500:] or "no message"
        raise ImportFailed(f"LibreOffice exited with status {process.returncode} ({detail})")
    return stdout, stderr


#: How much of the converter's output is read back: its messages are short, and a
#: misbehaving converter may write without end until its time limit.
_OUTPUT_LIMIT: Final = 1 << 20


def _head(file: IO[bytes]) -> bytes:
    file.seek(0)
    return file.read(_OUTPUT_LIMIT)


def _tail(file: IO[bytes]) -> bytes:
    size = file.seek(0, os.SEEK_END)
    file.seek(max(0, size - _OUTPUT_LIMIT))
    return file.read()


async def import_rtf(data: bytes, options: RtfOptions | None = None) -> NormalizedDocument:
    """Convert RTF with LibreOffice, then sanitise it and derive its plain text.

    Args:
        data: The RTF file's bytes.
        options: Limits and the ``soffice`` path; defaults when omitted.

    Returns:
        The document, with the RTF's title (``{\\info{\\title ...}}``) when it has one.

    Raises:
        The errors of :func:`convert_rtf_to_html`.
    """
    return normalize_html(await convert_rtf_to_html(data, options))


async def libreoffice_version(soffice: str | None = None) -> str:
    """LibreOffice's version line, e.g. ``"LibreOffice 7.4.7.2 40(Build:2)"``.

    Raises:
        ConverterMissing: LibreOffice is not installed.
        ImportFailed: It failed or did not answer within 60 s.
    """
    program = find_soffice(soffice)
    with tempfile.TemporaryDirectory(prefix="glossator-soffice-") as home:
        env = {**os.environ, **_CONVERSION_ENV, "HOME": home}
        argv = [program, f"-env:UserInstallation={Path(home).as_uri()}", "--version"]
        stdout, _ = await _run_process_group(argv, env=env, timeout=DEFAULT_TIMEOUT)
    return stdout.decode("utf-8", "replace").strip()
