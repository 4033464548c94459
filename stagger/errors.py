"""One small exception tree. Every error a user can cause carries where it happened.

The CLI prints ``error.lines()`` (``str(error)`` is its first line) and exits with
``error.exit_code``. Names inside messages go through :func:`shown`, so that a name holding a
newline or a terminal escape can never split or colour an error line.
"""

from __future__ import annotations

import re
import unicodedata
from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit code of the CLI, decided here once (README "Exit codes"). An error's code
    is its class's ``exit_code``; the outcomes that are not errors are named here too."""

    OK = 0
    BAD_INPUT = 1
    """A file, field, option value or output path is wrong; nothing written."""
    UNSCHEDULED = 2
    """Planned, but some VMs did not fit (or a check found problems)."""
    SOURCE = 3
    """vCenter/RVTools/SMTP failed: unreachable, TLS, auth, protocol, timeout."""
    INVALID_SCHEDULE = 4
    USAGE = 64
    """sysexits.h EX_USAGE: click's own 2 would collide with UNSCHEDULED."""
    INTERRUPTED = 130


# What may not reach one line of text shown to a person raw: controls (C0, DEL, C1), Unicode
# format characters (bidi overrides can reorder a line on screen, zero-width ones hide text),
# line/paragraph separators, surrogates.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# Printable ASCII needs no look at each character (most names): the fast path.
_PLAIN = re.compile(r"[\x20-\x7e]*")
_SHOWN_MAX_CHARS = 120
"""A name longer than this is cut in messages (with its full length said)."""
MAX_PROBLEMS = 20
"""Problems of one file listed at once; the rest are counted."""


def _unsafe(ch: str) -> bool:
    return bool(_UNSAFE.match(ch)) or unicodedata.category(ch) == "Cf"


def _escape_char(ch: str) -> str:
    code = ord(ch)
    simple = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
    if ch in simple:
        return simple[ch]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """One line of text for a person: every control, format or separator character written
    as an escape (``\\n``, ``\\xNN``, ``\\uNNNN``); other text unchanged.

    The one such function: error lines (:func:`shown`), terminal output (``cli.text``) and
    the comments of exports use it; never for data a program must read back exactly.
    """
    if _PLAIN.fullmatch(text) or not any(_unsafe(ch) for ch in text):
        return text
    return "".join(_escape_char(ch) if _unsafe(ch) else ch for ch in text)


def shown(value: object) -> str:
    """A name as it appears inside an error line: quoted, escaped, and cut if very long.

    ``shown("web\\n01")`` is ``'web\\\\n01'``: one line whatever the name holds.
    """
    text = value if isinstance(value, str) else repr(value)
    cut = ""
    if len(text) > _SHOWN_MAX_CHARS:
        cut = f"... ({len(text)} characters)"
        text = text[:_SHOWN_MAX_CHARS]
    body = "".join("\\\\" if ch == "\\" else "\\'" if ch == "'" else visible(ch) for ch in text)
    return f"'{body}'{cut}"


class StaggerError(Exception):
    """Base of every error stagger raises on purpose."""

    exit_code: int = ExitCode.BAD_INPUT

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
        # Defence in depth: whatever a message holds, the error stays one line on screen.
        line = f"{where}: {self.message}" if where else self.message
        return visible(line)

    def lines(self) -> list[str]:
        """What the CLI prints: one line per problem (one, unless a subclass found several)."""
        return [str(self)]


class InputError(StaggerError):
    """A topology, policy, schedule or mapping file is wrong.

    ``more`` holds further problems found in the same file (each an InputError of its own),
    so that an admin fixes a file in one pass instead of one run per mistake. ``str()`` is
    the first problem with a count of the others; :meth:`lines` lists them (up to
    :data:`MAX_PROBLEMS`).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        obj: str | None = None,
        field: str | None = None,
        more: list[InputError] | None = None,
    ) -> None:
        super().__init__(message, file=file, obj=obj, field=field)
        self.more: list[InputError] = list(more or [])

    def _single(self) -> str:
        return StaggerError.__str__(self)

    def __str__(self) -> str:
        line = self._single()
        if self.more:
            n = len(self.more)
            line += f" (and {n} more problem{'s' if n > 1 else ''})"
        return line

    def lines(self) -> list[str]:
        problems = [self, *self.more]
        out = [p._single() for p in problems[:MAX_PROBLEMS]]
        if len(problems) > MAX_PROBLEMS:
            out.append(f"... and {len(problems) - MAX_PROBLEMS} more problems")
        return out


class SourceError(StaggerError):
    """An inventory source (vCenter, RVTools export) could not be read.

    The subclasses below say why a live source failed; each keeps exit code 3. Which low-level
    error becomes which subclass is decided in one table per protocol
    (``stagger.sources.vcenter._rules`` for vSphere, ``stagger.mail`` for SMTP).
    """

    exit_code = ExitCode.SOURCE


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


class InvalidScheduleError(StaggerError):
    """A schedule breaks a rule. Carries every violation found."""

    exit_code = ExitCode.INVALID_SCHEDULE

    def __init__(self, violations: list[str], *, file: str | None = None) -> None:
        head = violations[0] if violations else "schedule is invalid"
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        super().__init__(f"invalid schedule: {head}{more}", file=file)
        self.violations = violations
