"""The models: deterministic constraint names, cascades, indexes and enum values."""

from __future__ import annotations

import pytest
from sqlalchemy import CheckConstraint, Enum, ForeignKeyConstraint, UniqueConstraint

from glossator.db.models import (
    Base,
    Document,
    EnrollmentRole,
    ExportJobStatus,
    Highlight,
    SourceKind,
)

TABLES = Base.metadata.sorted_tables


class TestSchemaShape:
    def test_all_tables_are_defined(self) -> None:
        """The metadata holds exactly glossator's nine tables."""
        assert {table.name for table in TABLES} == {
            "users",
            "user_sessions",
            "courses",
            "course_invitations",
            "enrollments",
            "workspaces",
            "documents",
            "highlights",
            "export_jobs",
        }

    @pytest.mark.parametrize("table", TABLES, ids=lambda table: table.name)
    def test_every_constraint_and_index_has_a_convention_name(self, table: object) -> None:
        """Names come from the naming convention, so migrations can refer to them."""
        from sqlalchemy import Table

        assert isinstance(table, Table)
        names = [constraint.name for constraint in table.constraints] + [
            index.name for index in table.indexes
        ]
        assert all(isinstance(name, str) for name in names)
        assert all(str(name).split("_")[0] in {"pk", "fk", "uq", "ck", "ix"} for name in names)

    @pytest.mark.parametrize("table", TABLES, ids=lambda table: table.name)
    def test_every_foreign_key_is_indexed(self, table: object) -> None:
        """Each foreign key column leads some index or unique constraint (cascades stay fast)."""
        from sqlalchemy import Table

        assert isinstance(table, Table)
        leading = {index.columns.values()[0].name for index in table.indexes} | {
            constraint.columns.values()[0].name
            for constraint in table.constraints
            if isinstance(constraint, UniqueConstraint)
        }
        for constraint in table.constraints:
            if isinstance(constraint, ForeignKeyConstraint):
                assert constraint.column_keys[0] in leading, constraint.name

    @pytest.mark.parametrize("table", TABLES, ids=lambda table: table.name)
    def test_every_foreign_key_says_what_happens_on_delete(self, table: object) -> None:
        """No foreign key relies on the default (which blocks deleting the parent)."""
        from sqlalchemy import Table

        assert isinstance(table, Table)
        for constraint in table.foreign_key_constraints:
            assert constraint.ondelete in {"CASCADE", "SET NULL"}, constraint.name


class TestConstraints:
    def test_highlight_range_is_checked_by_the_database(self) -> None:
        """Highlights carry CHECK constraints for start >= 0 and start < end."""
        checks = {
            constraint.name: str(constraint.sqltext)
            for constraint in Base.metadata.tables[Highlight.__tablename__].constraints
            if isinstance(constraint, CheckConstraint)
        }
        assert checks == {
            "ck_highlights_start_not_negative": "start_offset >= 0",
            "ck_highlights_start_before_end": "start_offset < end_offset",
        }

    def test_document_position_unique_per_workspace_checked_per_statement(self) -> None:
        """(workspace_id, position) is unique, DEFERRABLE INITIALLY IMMEDIATE."""
        [unique] = [
            constraint
            for constraint in Base.metadata.tables[Document.__tablename__].constraints
            if isinstance(constraint, UniqueConstraint)
        ]
        assert unique.name == "uq_documents_workspace_id_position"
        assert [column.name for column in unique.columns] == ["workspace_id", "position"]
        assert unique.deferrable is True
        assert unique.initially == "IMMEDIATE"


class TestEnums:
    @pytest.mark.parametrize(
        ("enum_class", "type_name", "values"),
        [
            (EnrollmentRole, "enrollment_role", ["student", "tutor", "instructor"]),
            (SourceKind, "source_kind", ["rtf", "conversation", "html"]),
            (
                ExportJobStatus,
                "export_job_status",
                ["queued", "running", "done", "failed", "cancelled"],
            ),
        ],
    )
    def test_enums_store_lowercase_values(
        self, enum_class: type, type_name: str, values: list[str]
    ) -> None:
        """Each enum is a named PostgreSQL type holding the members' values, not their names."""
        columns = [
            column
            for table in TABLES
            for column in table.columns
            if isinstance(column.type, Enum) and column.type.enum_class is enum_class
        ]
        assert columns, f"no column uses {enum_class.__name__}"
        for column in columns:
            assert isinstance(column.type, Enum)
            assert column.type.name == type_name
            assert column.type.enums == values
