"""pgsandbox as a package: independent of glossator, with a true public API."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pgsandbox
from pgsandbox._cluster import Cluster, find_bindir

SOURCE = Path(pgsandbox.__file__).parent


class TestIndependence:
    def test_pgsandbox_never_imports_glossator(self) -> None:
        """Every module of src/pgsandbox is free of glossator imports, so it can ship alone."""
        offenders = []
        for path in sorted(SOURCE.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "glossator"]
        assert len(list(SOURCE.rglob("*.py"))) > 5
        assert offenders == []

    def test_public_api_names_exist(self) -> None:
        """Everything ``pgsandbox.__all__`` names is importable from the package."""
        missing = [name for name in pgsandbox.__all__ if not hasattr(pgsandbox, name)]
        assert missing == []
        assert "__version__" in pgsandbox.__all__
        assert "asgi" in pgsandbox.__all__
        assert pgsandbox.asgi.__all__ == ["LifespanFailed", "lifespan_client", "portal_client"]
        assert all(hasattr(pgsandbox.asgi, name) for name in pgsandbox.asgi.__all__)


class TestEphemeralCluster:
    def test_starts_as_root_with_test_settings_and_is_reused(self, tmp_path: Path) -> None:
        """A private cluster starts from the machine's binaries, tuned for tests, then reused."""
        shm = Path("/dev/shm")  # noqa: S108  # the folder pgsandbox itself uses, per test
        cluster = Cluster(find_bindir(), shm / f"pgsandbox-test-{tmp_path.name}")
        try:
            first = cluster.ensure_running()
            assert first.action == "created"
            second = cluster.ensure_running()
            assert second.action == "reused"
            assert second.url.port == first.url.port
            port = str(first.url.port)
            settings = subprocess.run(
                [
                    "psql",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    port,
                    "-U",
                    "postgres",
                    "-Atc",
                    "SELECT current_setting('fsync') || current_setting('full_page_writes')",
                ],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PGCONNECT_TIMEOUT": "5"},
            ).stdout.strip()
            assert settings == "offoff"
        finally:
            assert cluster.stop()
            subprocess.run(["rm", "-rf", str(cluster.root)], check=True)
