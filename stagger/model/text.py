"""Text read from a source: every name and tag passes through :data:`Text`."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# C0, DEL and C1 controls. A newline in a VM name written into a crontab comment is a new
# crontab line; ESC starts a terminal escape. Names come from whoever can create a VM, so
# every name and tag is refused at the edge if it holds one. Every other character is kept.
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def no_control_chars(value: str) -> str:
    """Refuse a string holding a control character (pydantic validator)."""
    m = _CONTROL_CHARS.search(value)
    if m:
        raise ValueError(
            f"holds control character U+{ord(m.group()):04X} at position {m.start()}; "
            "names and tags may not contain control characters"
        )
    return value


Text = Annotated[str, AfterValidator(no_control_chars)]
"""Any text read from a source: no control characters."""
