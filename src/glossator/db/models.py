"""Glossator's tables as SQLAlchemy 2 typed declarative models.

The migrations in ``migrations/versions`` create exactly this schema; ``glossator db
check`` (and a test) fail when the two drift apart. Constraint names come from
:data:`NAMING_CONVENTION`, so migrations can refer to them by name on every database.

Only :mod:`glossator.services` should use these classes; callers get frozen records.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "Course",
    "CourseInvitation",
    "Document",
    "Enrollment",
    "EnrollmentRole",
    "ExportJob",
    "ExportJobStatus",
    "Highlight",
    "SourceKind",
    "User",
    "UserSession",
    "Workspace",
]

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class EnrollmentRole(enum.StrEnum):
    """What a user does in a course."""

    STUDENT = "student"
    TUTOR = "tutor"
    INSTRUCTOR = "instructor"


class SourceKind(enum.StrEnum):
    """Where a document's HTML came from."""

    RTF = "rtf"
    CONVERSATION = "conversation"
    HTML = "html"


class ExportJobStatus(enum.StrEnum):
    """Lifecycle of an export job in the PostgreSQL queue."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


def _pg_enum(enum_class: type[enum.StrEnum], name: str) -> Enum:
    # Store the lowercase values (not the member names) so SQL reads naturally.
    return Enum(
        enum_class,
        name=name,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def _now_column() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class Base(DeclarativeBase):
    """Declarative base; its ``metadata`` is the target of the migrations."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """A person who signs in; identified by a normalised (lowercase) e-mail address."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = _now_column()


class UserSession(Base):
    """A signed-in session; the cookie holds a random token, the table only its SHA-256.

    A session ends when its row is deleted (sign-out, a new password, ``glossator user
    revoke-sessions``) or at ``expires_at``; every request looks its token up here.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = _now_column()
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Course(Base):
    """A course that users enrol in; archived courses are read-only."""

    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    archived_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = _now_column()


class Enrollment(Base):
    """A user's role in a course; at most one per user and course."""

    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("user_id", "course_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The unique (user_id, course_id) constraint's index serves lookups by user.
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[EnrollmentRole] = mapped_column(_pg_enum(EnrollmentRole, "enrollment_role"))
    created_at: Mapped[dt.datetime] = _now_column()


class CourseInvitation(Base):
    """An instructor's invitation of an e-mail address into a course, with a role.

    Stored whether or not the address has an account (so the inviter learns nothing);
    the user with that address accepts (becoming enrolled) or declines it.
    """

    __tablename__ = "course_invitations"
    __table_args__ = (UniqueConstraint("course_id", "email"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The unique (course_id, email) constraint's index serves lookups by course.
    course_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("courses.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[EnrollmentRole] = mapped_column(_pg_enum(EnrollmentRole, "enrollment_role"))
    invited_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = _now_column()


class Workspace(Base):
    """A user's collection of documents, optionally tied to a course."""

    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # Deleting a course keeps its students' work; the workspace just loses the link.
    course_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("courses.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = _now_column()


class Document(Base):
    """An imported document: sanitised HTML plus the plain text highlights point into.

    ``position`` orders the documents of a workspace. Its uniqueness is checked at the end
    of each statement (``DEFERRABLE INITIALLY IMMEDIATE``), so one ``UPDATE`` can permute
    or shift positions without tripping over itself, while a violation still fails the
    statement that caused it. ``INITIALLY DEFERRED`` would postpone the check to
    ``COMMIT``, which the savepoint sandbox in the tests never reaches.
    """

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("workspace_id", "position", deferrable=True, initially="IMMEDIATE"),
        CheckConstraint("position >= 0", name="position_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The unique (workspace_id, position) constraint's index serves lookups by workspace.
    workspace_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(200))
    source_kind: Mapped[SourceKind] = mapped_column(_pg_enum(SourceKind, "source_kind"))
    html: Mapped[str] = mapped_column(Text)
    plain_text: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = _now_column()


class Highlight(Base):
    """A tagged character range ``[start_offset, end_offset)`` of a document's plain text.

    Highlights of one document may overlap. The database refuses empty, reversed and
    negative ranges; the upper bound depends on the document's text and is checked by the
    service.
    """

    __tablename__ = "highlights"
    __table_args__ = (
        CheckConstraint("start_offset >= 0", name="start_not_negative"),
        CheckConstraint("start_offset < end_offset", name="start_before_end"),
        Index(None, "document_id", "start_offset"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    document_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("documents.id", ondelete="CASCADE")
    )
    start_offset: Mapped[int] = mapped_column(Integer)
    end_offset: Mapped[int] = mapped_column(Integer)
    tag: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = _now_column()


class ExportJob(Base):
    """A request to render a document to PDF, taken by the export worker from this queue.

    A worker claims a queued job of its ``queue`` whose ``run_after`` has come by setting
    ``status`` to running, counting an attempt, and setting ``lease_until`` to a deadline
    it keeps extending while it works; a job whose lease ran out (its worker died) is
    claimed again until ``attempts`` reaches ``max_attempts``. ``attempts`` doubles as the
    fencing token: a worker may finish a job only while the attempt it claimed is current
    (see :mod:`glossator.export.queue`).
    """

    __tablename__ = "export_jobs"
    # Read server-side defaults and ``updated_at`` back with RETURNING after each flush;
    # an expired attribute would need a lazy load, which async sessions cannot do.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 - SQLAlchemy's declarative hook
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
        Index(None, "status", "created_at"),
        # The claim query's index: only the jobs a worker may still take, in queue order.
        Index(
            "ix_export_jobs_claimable",
            "queue",
            "id",
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    document_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    requested_by_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[ExportJobStatus] = mapped_column(
        _pg_enum(ExportJobStatus, "export_job_status"), server_default=ExportJobStatus.QUEUED.value
    )
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, server_default="3")
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    queue: Mapped[str] = mapped_column(String(64), server_default="default")
    # Not claimed before this time: the back-off between a failed attempt and the next.
    run_after: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    worker_id: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[bytes | None] = mapped_column(LargeBinary)
    result_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = _now_column()
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
