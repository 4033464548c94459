"""One quoting function per target language, and the one slug for names used as file names.

Names come from whoever can create a VM, a host or a datastore, and the exports run as root
(crontabs), as the Bacula Director or as the Veeam service account (PowerShell). Every name an
exporter writes goes through exactly one function here, chosen by where it lands: a shell
word, a PowerShell string, a Bacula quoted string or comment, iCalendar text, a Markdown
cell, a CSV cell, or a file/job name (:func:`slugs`). Each one is safe on its own: the models
already refuse control characters at load, but a quoting function never relies on that.

The property tests in tests/exporters/test_quoting.py check each function against the real
reader: ``sh``, the tree-sitter PowerShell grammar plus PowerShell's own quote rules,
``bdirjson`` (Bacula's Director parser), the icalendar library, markdown-it and ``csv``.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable

from stagger.errors import InputError, shown, visible

# C0, DEL and C1 controls: a newline ends a crontab entry or a comment, ESC/CSI/OSC drive a
# terminal, NUL ends a C string.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every C0/DEL/C1 control shown as ``\\xNN`` (nothing else changed)."""
    return _CONTROLS.sub(_escape, text)


class UnquotableError(InputError):
    """A name cannot be written into the target at all (e.g. a newline in a crontab)."""


# --- POSIX shell and cron ---------------------------------------------------------------


def shell_quote(text: str) -> str:
    """One POSIX ``sh`` word that expands to exactly ``text``: single quotes, with each ``'``
    written as ``'\\''``. Always quoted, so no character is ever special to the shell."""
    if "\x00" in text:
        raise UnquotableError(f"{visible(text)!r}: a NUL byte cannot be passed to a command")
    return "'" + text.replace("'", "'\\''") + "'"


def cron_word(text: str) -> str:
    """A shell word for a crontab command line.

    cron turns an unescaped ``%`` into a newline (the rest becomes standard input) and
    ``\\%`` into ``%`` before the shell runs the line. Each ``%`` is written as ``\\%``
    outside the single quotes: cronie/Vixie cron pass ``%`` to the shell, which keeps it;
    busybox crond (ESXi), which knows no ``%`` rule, passes ``\\%``, which the shell also
    reads as ``%``. A backslash in the name stays inside single quotes, so it can never
    escape the ``%`` that follows it. A control character (a newline ends the crontab
    entry; CR and ESC can hide text when the crontab is shown) is refused.
    """
    if _CONTROLS.search(text):
        raise UnquotableError(
            f"{visible(text)!r}: holds a control character; it cannot be written into a crontab"
        )
    return "\\%".join(shell_quote(part) for part in text.split("%"))


def cron_comment(text: str) -> str:
    """A crontab comment line: ``#`` and the text on one visible line."""
    return "# " + visible(text)


# --- PowerShell -------------------------------------------------------------------------

# PowerShell ends a single-quoted string at any of these (its tokenizer's IsSingleQuote), and
# reads two of them in a row as one literal quote (the second).
PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


def ps_str(text: str) -> str:
    """A PowerShell verbatim (single-quoted) string holding exactly ``text``.

    Nothing inside a single-quoted string is special except the five single-quote
    characters, each of which is doubled. The script must be read as UTF-8 (the Veeam
    exporter writes a byte-order mark): Windows PowerShell 5.1 reads a script without one in
    the ANSI code page, where UTF-8 bytes such as D1 92 ('ђ') decode to 'Ñ’'. A NUL is
    refused (PowerShell would read on, but other tools take the file for binary).
    """
    if "\x00" in text:
        raise UnquotableError(f"{visible(text)!r}: a NUL byte cannot be written into a script")
    return "'" + "".join(c + c if c in PS_SINGLE_QUOTES else c for c in text) + "'"


# --- Bacula ------------------------------------------------------------------------------

# bacula-dir 9.6.7 overruns a buffer on a quoted string of about 2,750 bytes (measured: a
# segfault, or exit 0 with a corrupted value), and its own dump tool (bdirjson) already at
# about 1,030 bytes of escaped text. Every quoted string stagger writes holds at most this
# many bytes between its quotes, escapes included.
BACULA_MAX_BYTES = 1000
_ELLIPSIS = "\u2026"


def _bacula_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def bacula_value(text: str) -> str:
    """What the Director reads back from :func:`bacula_str`: controls shown as ``\\xNN``,
    cut with an ellipsis where the escaped text would pass :data:`BACULA_MAX_BYTES`."""
    value = escape_controls(text)
    if len(_bacula_escape(value).encode("utf-8")) <= BACULA_MAX_BYTES:
        return value
    budget = BACULA_MAX_BYTES - len(_ELLIPSIS.encode("utf-8"))
    kept: list[str] = []
    for c in value:
        budget -= len(_bacula_escape(c).encode("utf-8"))
        if budget < 0:
            break
        kept.append(c)
    return "".join(kept) + _ELLIPSIS


def bacula_str(text: str) -> str:
    """A Bacula quoted string: ``\\`` and ``"`` escaped with a backslash (the lexer's only
    escape), controls shown as ``\\xNN`` so the string stays on its line, at most
    :data:`BACULA_MAX_BYTES` bytes (longer text is cut and ends with an ellipsis)."""
    return '"' + _bacula_escape(bacula_value(text)) + '"'


def bacula_command(text: str) -> str:
    """A Bacula quoted string for a RunScript ``Command`` that runs exactly ``text``.

    Before it runs a command, Bacula replaces ``%`` codes (``%c`` client, ``%l`` level...)
    and reads ``%%`` as ``%``: every ``%`` is doubled, so the command is the admin's text,
    never a Director substitution. A command cannot be cut or have a control shown as an
    escape (it would run something else): one that :func:`bacula_str` would change is
    refused. Bacula splits the command into program and arguments itself (no shell).
    """
    literal = text.replace("%", "%%")
    if bacula_value(literal) != literal:
        raise UnquotableError(
            f"{shown(text)}: a Bacula command holds no control character and at most"
            f' {BACULA_MAX_BYTES} bytes (% counted twice, \\ and " escaped); this one'
            f" has {len(_bacula_escape(literal).encode('utf-8'))}"
        )
    return bacula_str(literal)


def bacula_comment(text: str) -> str:
    """A Director config comment line. The lexer ends a comment only at a newline, which
    :func:`visible` never leaves in the text."""
    return "# " + visible(text)


# --- iCalendar, Markdown, CSV -----------------------------------------------------------


ICS_BOM = "\ufeff"


def ics_text(text: str) -> str:
    """An iCalendar TEXT value, escaped as RFC 5545 3.3.11 says, to be written verbatim
    (``icalendar.prop.vUnknown``; the library still folds long lines).

    ``\\``, ``;`` and ``,`` get a backslash; controls (RFC 5545 forbids them raw, a newline
    included) are shown as ``\\xNN``. Not left to the icalendar library: its writer turns
    the two characters ``\\N`` of a name into a line break before it escapes backslashes,
    so a VM named ``C:\\Nightly`` came back as ``C:`` and a new line ``ightly``. A byte-order
    mark (U+FEFF) is shown as ``\\ufeff``: the writer drops one that starts a value, so
    ``\\ufeffweb01`` came out as ``web01``, another VM's name (found by hypothesis)."""
    value = escape_controls(text).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace(ICS_BOM, "\\\\ufeff")


ICS_NEWLINE = "\\n"
"""A line break inside an escaped TEXT value (joins :func:`ics_text` parts)."""


_MD_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")


def md_text(text: str) -> str:
    """Inline Markdown (a table cell, a list item) that renders as exactly the visible text.

    Every ASCII punctuation character is backslash-escaped (CommonMark allows that for all
    of them), so no name opens emphasis, a link, an image, a code span or raw HTML, and
    ``|`` cannot end a table cell (a backslash in the name is escaped too, so it cannot
    un-escape the pipe). Newlines and other controls are shown as ``\\xNN``. Whitespace at
    either end is written as numeric character references: Markdown trims a table cell and a
    list item, so the VMs "misc" and "misc " would otherwise read the same; a reference
    survives the trim and renders as the same character.
    """
    body = _MD_PUNCT.sub(r"\\\1", visible(text))
    core = body.strip()
    if core == body:
        return body
    start = body.index(core) if core else len(body)
    lead, trail = body[:start], body[start + len(core) :]
    return "".join(f"&#{ord(c)};" for c in lead) + core + "".join(f"&#{ord(c)};" for c in trail)


# A spreadsheet reads a cell starting with one of these as a formula (or, for tab/CR, may
# strip it and then read one); the fullwidth forms are folded to ASCII by some. A leading
# "'" marks the cell as text and is prefixed too, so that the rule can be undone exactly.
_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: ``'`` prefixed to a cell starting with
    ``= + - @``, tab, CR (or their fullwidth forms) or ``'``. Read back with
    :func:`csv_uncell`."""
    return "'" + text if text.startswith(_CSV_TRIGGERS) else text


def csv_uncell(cell: str) -> str:
    """The value written with :func:`csv_cell`."""
    return cell[1:] if cell.startswith("'") else cell


# --- names used as file names and job names ---------------------------------------------

SLUG_MAX = 64
_HASH_HEX = 12
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_HASHED = re.compile(rf"-[0-9a-f]{{{_HASH_HEX}}}$")


def _hashed(name: str, base: str) -> str:
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_HEX]
    return f"{base[:SLUG_MAX]}-{digest}" if base else f"vm-{digest}"


def slug(name: str) -> str:
    """A name of ``[A-Za-z0-9_.-]`` for file names, job names and log files.

    A name that is already safe (at most 64 characters, not starting with ``.`` or ``-``)
    is kept. Any other is reduced to its safe characters and gets ``-`` and 12 hex digits of
    the SHA-256 of the full name, so it stays the same from plan to plan and never meets a
    kept name (a kept name that looks like ``...-<12 hex>`` is hashed as well). Use
    :func:`slugs` for a set of names: it also separates names that differ only by case.
    """
    base = _UNSAFE.sub("_", name).strip("._-")
    if name and base == name and len(name) <= SLUG_MAX and not _HASHED.search(name):
        return name
    return _hashed(name, base)


def slugs(names: Iterable[str]) -> dict[str, str]:
    """:func:`slug` of each name, unique even where case does not count (Windows, Veeam
    job names): names whose slugs differ only by case are all hashed. Raises
    :class:`UnquotableError` if two names still meet (a SHA-256 prefix collision)."""
    out = {name: slug(name) for name in dict.fromkeys(names)}
    groups: dict[str, list[str]] = defaultdict(list)
    for name, s in out.items():
        groups[s.lower()].append(name)
    for members in groups.values():
        if len(members) > 1:
            for name in members:
                out[name] = _hashed(name, _UNSAFE.sub("_", name).strip("._-"))
    seen: dict[str, str] = {}
    for name, s in out.items():
        other = seen.setdefault(s.lower(), name)
        if other != name:
            raise UnquotableError(
                f"names {visible(other)!r} and {visible(name)!r} give the same file name {s!r}"
            )
    return out
