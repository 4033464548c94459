"""Names on the terminal: shown as text, never as Rich markup or terminal control.

Every name printed by the CLI (VMs, hosts, datastores, RAID groups, reasons, bottlenecks,
error messages that quote them, file paths) goes through :func:`as_text`: Rich markup is
escaped (``[/x]`` in a name raised a MarkupError after the schedule was written, ``[ds]``
vanished) and control characters (ESC, CSI, OSC: a name could set the terminal title or
clear the screen) and bidirectional marks are shown as ``\\xNN`` / ``\\uNNNN``, by the one
escaping function (:func:`stagger.errors.visible`; :func:`stagger.errors.shown` adds the quotes
of an error line).
"""

from __future__ import annotations

from rich.markup import escape

from stagger.errors import visible


def as_text(value: object) -> str:
    """``value`` as a string safe to put into Rich markup: printed exactly as visible text."""
    return escape(visible(str(value)))
