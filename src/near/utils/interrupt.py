"""Ctrl-C and SIGTERM during a training: finish the compiled chunk, checkpoint there, then stop.

A training loop asks ``stop.requested`` between chunks; when it is set the loop saves a checkpoint and
raises ``RunInterrupted``, which ``near`` reports (exit status 130) with the command that resumes. A
second signal stops at once, as Python's default would (the last periodic checkpoint is kept)."""

from __future__ import annotations

import contextlib
import signal
import threading


class RunInterrupted(RuntimeError):
    """A training stopped by SIGINT/SIGTERM after checkpointing where it stood."""


class StopRequest:
    def __init__(self):
        self.signal: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name if self.signal is not None else ""


@contextlib.contextmanager
def stop_on_signals():
    """Yield a ``StopRequest`` set by the first SIGINT or SIGTERM; the handlers are restored on exit.
    Outside the main thread (where Python cannot take signals) it yields a request that never sets."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        if stop.requested:  # the second one: stop now
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        stop.signal = signum

    try:
        for s in previous:
            signal.signal(s, handler)
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def interrupted_message(what: str, where: str, run_dir: str, stop: StopRequest) -> str:
    return (f"{what} stopped by {stop.name} at {where}; checkpoint saved in {run_dir}/checkpoints. "
            f"The same command with resume=True continues from there.")
