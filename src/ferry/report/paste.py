"""Text meant to be pasted (code, YAML) goes to stdout as plain text: never through rich.

rich wraps at the terminal's width (80 columns when piped) and reads `[name]` as a markup tag, so a call broken in
the middle or `out[name]` printed as `out` is no longer the code ferry means (issue 18). The lines before it may
come from a rich Console on the same stdout: flushed first, so the order holds.
"""

from __future__ import annotations

import sys


def paste(text: str) -> None:
    """Print `text` exactly, unwrapped and unstyled, whatever the width."""
    sys.stdout.flush()
    print(text, flush=True)
