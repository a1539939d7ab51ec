"""Ctrl-C handling for training: the first SIGINT asks the loop to stop after the current
update (it then saves a checkpoint and returns); a second SIGINT exits at once.

Exiting at once is safe for checkpoints because they are written atomically: an
interrupted write leaves only a temp file, never a damaged checkpoint.
"""

from __future__ import annotations

import os
import signal
import sys
import threading


class StopRequest:
    """Context manager installing the two-stage SIGINT handler (main thread only)."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            sys.stderr.write("\nrnnkit: second Ctrl-C, exiting now\n")
            sys.stderr.flush()
            os._exit(130)  # 128 + SIGINT, the shell convention
        self.requested = True
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
