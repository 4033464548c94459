"""Text read from a source: every name and tag passes through :data:`Text`."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# C0, DEL and C1 controls. A newline in a VM name written into a crontab comment is a new
# crontab line; ESC starts a terminal escape. Names come from whoever can create a VM, so
# every name and tag is refused at the edge if it holds one. Every other character is kept.
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# A lone surrogate (JSON "\ud800") is not Unicode at all: no UTF-8 file can hold it, so the
# schedule JSON, every export and the terminal would fail on it later.
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def no_control_chars(value: str) -> str:
    """Refuse a string holding a control character or a lone surrogate (pydantic validator)."""
    bad = _SURROGATES.search(value)
    if bad:
        raise ValueError(
            f"holds the unpaired surrogate U+{ord(bad.group()):04X} at position {bad.start()}, "
            "which is not valid Unicode"
        )
    m = _CONTROL_CHARS.search(value)
    if m:
        raise ValueError(
            f"holds control character U+{ord(m.group()):04X} at position {m.start()}; "
            "names and tags may not contain control characters"
        )
    return value


Text = Annotated[str, AfterValidator(no_control_chars)]
"""Any text read from a source: no control characters."""
