"""Ctrl-C handling for training: the first SIGINT asks the loop to stop after the current
update (it then saves a checkpoint and returns); a second SIGINT exits at once.

"At once" needs the operating system's default action: Python runs its signal handlers
only between bytecodes, so a handler would wait for a long C++ call (a backward pass)
to return. The first handler therefore re-arms SIGINT with SIG_DFL, and the second
Ctrl-C terminates the process immediately (the shell reports status 130).
That is safe for checkpoints because they are written atomically: an interrupted write
leaves only a temp file, never a damaged checkpoint.
"""

from __future__ import annotations

import signal
import sys
import threading


class StopRequest:
    """Context manager installing the two-stage SIGINT handler (main thread only)."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        sys.stderr.write("\nrnnkit: Ctrl-C, saving a checkpoint after this update "
                         "(Ctrl-C again to exit immediately)\n")
        sys.stderr.flush()

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
