"""Progress a person at a terminal can see: a rich bar on stderr for `check`, `convert` and `doctor`.

Shown only when stderr is a terminal, `--json` is off, no CI variable is set and TERM is not `dumb`: a pipe, a CI
log or a script reading JSON gets the bytes it always got (stdout is never touched; the bar is transient and
erased before the tables print). The library prints nothing: `ferry.check.check(progress=...)` and
`ferry.doctor.diagnose(progress=...)` take a callback `(done, total)` and call it; this module is the CLI's callback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

OFF_VALUES = ("", "0", "false", "no")


def wanted(json_output: bool = False, stream: TextIO | None = None) -> bool:
    """A bar helps here: a terminal on stderr, not --json, not CI (CI=true, as GitHub, GitLab and most set it), not
    TERM=dumb (Emacs shells, some IDE consoles: cursor movement shows as garbage there)."""
    stream = stream if stream is not None else sys.stderr
    if json_output or os.environ.get("CI", "").strip().lower() not in OFF_VALUES:
        return False
    if os.environ.get("TERM", "") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Bar:
    """One rich Progress on stderr, for the length of a `with`. `counter(label)` gives a `(done, total)` callback
    that draws photos (or candidate runs) done of total, elapsed and remaining; `step(message)` names the step a
    long command is on (convert's targets). `Bar(enabled=False)` is the same object that draws nothing."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None):
        self.enabled = enabled
        self._stream = stream
        self._progress: Any = None
        self._step: Any = None

    def __enter__(self) -> Bar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            console = Console(file=self._stream if self._stream is not None else sys.stderr)
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), _Count(),
                                      TextColumn("elapsed"), TimeElapsedColumn(), _Left(), console=console,
                                      transient=True)
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def counter(self, label: str, unit: str = "photos") -> Callable[[int, int], None] | None:
        """A new line of the display, filled by calls `(done, total)`; None when nothing is drawn (the library
        then skips the calls)."""
        if self._progress is None:
            return None
        progress = self._progress
        task: list = []  # the line is added at the first call: a counter made early (convert's check) waits unseen

        def update(done: int, total: int) -> None:
            if not task:
                task.append(progress.add_task(label, total=total, unit=unit))
            progress.update(task[0], completed=done, total=total)

        return update

    def step(self, message: str) -> None:
        """Say what a multi-step command is doing now (one line, replaced by the next step)."""
        if self._progress is None:
            return
        if self._step is None:
            self._step = self._progress.add_task(message, total=None, unit="")
        else:
            self._progress.update(self._step, description=message)

    def __call__(self, message: str) -> None:  # convert's progress(message) protocol
        self.step(message)


def _columns():
    from rich.progress import ProgressColumn, TimeRemainingColumn
    from rich.text import Text

    class Count(ProgressColumn):
        """`7/120 photos`; nothing on a step line (it has no count)."""

        def render(self, task) -> Text:
            unit = task.fields.get("unit", "")
            if not unit:
                return Text("")
            total = "?" if task.total is None else str(int(task.total))
            return Text(f"{int(task.completed)}/{total} {unit}")

    class Left(TimeRemainingColumn):
        """`left 0:00:12` on a counted line, from its rate so far; nothing on a step line."""

        def render(self, task) -> Text:
            if not task.fields.get("unit", ""):
                return Text("")
            return Text.assemble("left ", super().render(task))

    return Count, Left


def _Count():  # noqa: N802 - column factories, built when a bar is shown (rich is imported only then)
    return _columns()[0]()


def _Left():  # noqa: N802
    return _columns()[1]()
