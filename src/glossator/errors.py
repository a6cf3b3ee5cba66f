"""The errors glossator's services raise.

Every error a caller is expected to handle derives from :class:`GlossatorError`; the web
layer maps the families to HTTP statuses (``NotFound`` 404, ``Conflict`` 409,
``ValidationError`` 422, ``PermissionDenied`` 403).

::

    GlossatorError
    ├── ConfigurationError
    ├── NotFound
    ├── Conflict
    │   ├── AlreadyExists
    │   │   └── DuplicateEnrollment
    │   └── CourseArchived
    ├── ValidationError
    │   └── InvalidRange
    └── PermissionDenied
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "ConfigurationError",
    "Conflict",
    "CourseArchived",
    "DuplicateEnrollment",
    "GlossatorError",
    "InvalidRange",
    "NotFound",
    "PermissionDenied",
    "ValidationError",
]


class GlossatorError(Exception):
    """Base class of every error glossator raises on purpose."""


class ConfigurationError(GlossatorError):
    """A setting (usually an environment variable) holds a value that cannot be used."""


class NotFound(GlossatorError):
    """The requested entity does not exist.

    Attributes:
        entity: What was looked for, e.g. ``"user"``.
        key: The identifier that found nothing.
    """

    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"{entity} {key!r} does not exist")
        self.entity = entity
        self.key = key


class Conflict(GlossatorError):
    """The request contradicts the current state of the data."""


class AlreadyExists(Conflict):
    """An entity with the same unique key exists already."""


class DuplicateEnrollment(AlreadyExists):
    """The user is enrolled in the course already; use ``change_role`` to change the role."""


class CourseArchived(Conflict):
    """The course is archived, so it can no longer change."""


class ValidationError(GlossatorError):
    """An argument is malformed (empty title, invalid e-mail address, ...)."""


class InvalidRange(ValidationError):
    """A character range is empty, negative, reversed or beyond the end of the text."""


class PermissionDenied(GlossatorError):
    """The acting user may not do this."""
