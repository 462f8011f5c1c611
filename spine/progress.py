"""Progress reporting passed into a run (no global console): a protocol and its implementations."""

from __future__ import annotations

import logging
import sys
from typing import Protocol, TextIO

logger = logging.getLogger(__name__)


class Progress(Protocol):
    """Told when a stage starts, advances and finishes."""

    def start(self, stage: str, total: int) -> None: ...
    def advance(self, stage: str, step: int = 1) -> None: ...
    def finish(self, stage: str, seconds: float) -> None: ...


class NullProgress:
    """Reports nothing; the default for the Python API and tests."""

    def start(self, stage: str, total: int) -> None:
        pass

    def advance(self, stage: str, step: int = 1) -> None:
        pass

    def finish(self, stage: str, seconds: float) -> None:
        pass


class StageLines:
    """A line when each stage starts and one when it ends, with its time, on stderr: plain text, so
    it shows in a notebook as in a log (the default of ``Job.run`` in a Jupyter kernel)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def _say(self, text: str) -> None:
        stream = self._stream or sys.stderr
        stream.write(text + "\n")
        stream.flush()

    def start(self, stage: str, total: int) -> None:
        self._say(f"  {stage:<12} ...")

    def advance(self, stage: str, step: int = 1) -> None:
        pass

    def finish(self, stage: str, seconds: float) -> None:
        self._say(f"✓ {stage:<12} {seconds:7.2f} s")


def default_progress() -> Progress:
    """Stage lines in a Jupyter kernel (a run is otherwise a silent minute or more there); nothing
    in scripts and tests, which pass a progress of their own to see one."""
    return StageLines() if "ipykernel" in sys.modules else NullProgress()


class RichProgress:
    """A bar per stage and a timing line when it ends, on stderr (stdout stays for output)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bars, TextColumn

        self._console = Console(file=sys.stderr)
        # stage names are shown as typed, never read as Rich markup
        self._bars = Bars(TextColumn("{task.description:<12}", markup=False), BarColumn(), MofNCompleteColumn(),
                          console=self._console, transient=True)
        self._tasks: dict[str, int] = {}
        self._bars.start()

    def close(self) -> None:
        """Remove the bars from the terminal (call once the run is over)."""
        self._bars.stop()

    def start(self, stage: str, total: int) -> None:
        self._tasks[stage] = self._bars.add_task(stage, total=max(total, 1))

    def advance(self, stage: str, step: int = 1) -> None:
        self._bars.advance(self._tasks[stage], step)

    def finish(self, stage: str, seconds: float) -> None:
        self._bars.remove_task(self._tasks.pop(stage))
        from rich.text import Text

        line = Text.assemble(("✓", "green"), f" {stage:<12} {seconds:7.2f} s")
        self._bars.console.print(line, highlight=False)
