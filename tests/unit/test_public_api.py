"""Every package's ``__all__`` names what it exports, and only that."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest


def _public_modules(package: str) -> list[str]:
    """Every importable module of ``package`` whose dotted path has no ``_private`` part."""
    root = importlib.import_module(package)
    found = [package]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        found.append(info.name)
    return sorted(found)


# Discovered, not listed, so a new public module cannot escape the check.
PUBLIC_MODULES = _public_modules("glossator") + _public_modules("pgsandbox")


class TestPublicApi:
    @pytest.mark.parametrize("module_name", PUBLIC_MODULES)
    def test_all_lists_existing_public_names(self, module_name: str) -> None:
        """Each name in __all__ exists, is public, and is listed once."""
        module = importlib.import_module(module_name)
        exported = list(module.__all__)
        assert len(exported) == len(set(exported))
        for name in exported:
            assert hasattr(module, name), f"{module_name}.{name}"
            assert not name.startswith("_") or name == "__version__"

    def test_services_package_exports_every_service_function(self) -> None:
        """glossator.services re-exports the public names of each service module."""
        services = importlib.import_module("glossator.services")
        for module_name in PUBLIC_MODULES:
            if module_name.startswith("glossator.services."):
                module = importlib.import_module(module_name)
                assert set(module.__all__) <= set(services.__all__), module_name

    def test_alembic_ini_is_packaged_next_to_the_migrations(self) -> None:
        """alembic_ini_path() points at a file whose script_location exists."""
        import glossator.db

        ini = glossator.db.alembic_ini_path()
        assert ini.is_file()
        assert (Path(ini).parent / "migrations" / "env.py").is_file()
        assert "script_location = %(here)s/migrations" in ini.read_text()

    def test_importing_connects_nothing(self) -> None:
        """Importing glossator.db creates no engine."""
        import glossator.db

        assert glossator.db.get_connection_debug_info() == []
