"""One small exception tree. Every error a user can cause carries where it happened.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``.
"""

from __future__ import annotations


class StaggerError(Exception):
    """Base of every error stagger raises on purpose."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        obj: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.obj = obj
        self.field = field

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.obj:
            parts.append(self.obj)
        if self.field:
            parts.append(f"field '{self.field}'")
        where = ": ".join(parts)
        return f"{where}: {self.message}" if where else self.message


class InputError(StaggerError):
    """A topology, policy, schedule or mapping file is wrong."""


class SourceError(StaggerError):
    """An inventory source (vCenter, RVTools export) could not be read.

    The subclasses below say why a live source failed; each keeps exit code 3. Which low-level
    error becomes which subclass is decided in one table (``stagger.sources.vcenter``).
    """

    exit_code = 3


class SourceRefusedError(SourceError):
    """The server could not be reached: connection refused, unknown host, no route."""


class SourceTimeoutError(SourceError):
    """No answer within the time allowed (one read, or the whole retrieval's deadline)."""


class SourceTLSError(SourceError):
    """TLS failed: certificate not trusted, handshake or protocol error."""


class SourceAuthError(SourceError):
    """The server refused the credentials or the user lacks a permission."""


class SourceProtocolError(SourceError):
    """The server answered, but not as a vSphere API does (not vSphere, cut off, too large)."""


class InfeasibleError(StaggerError):
    """The request cannot be met at all (e.g. a pin that conflicts with a rule)."""

    exit_code = 2


class InvalidScheduleError(StaggerError):
    """A schedule breaks a rule. Carries every violation found."""

    exit_code = 4

    def __init__(self, violations: list[str], *, file: str | None = None) -> None:
        head = violations[0] if violations else "schedule is invalid"
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        super().__init__(f"invalid schedule: {head}{more}", file=file)
        self.violations = violations
