"""Stopping on SIGTERM / SIGINT without losing work (a preempted VM, a Ctrl-C).

While training, the first signal only asks the loop to stop: the current loop of
``steps_per_loop`` steps finishes, a checkpoint is written, and ``train`` returns with
``logs["stopped_by"]`` naming the signal. Further signals during that save are ignored, so the
checkpoint being written is never cut off half-way (and orbax's write-then-rename keeps the
previous one valid even against SIGKILL).
"""
import contextlib
import logging
import signal
import threading

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
    """Set by the signal handlers; read by the training loop between loops."""

    def __init__(self):
        self.signal_name = None

    def __bool__(self):
        return self.signal_name is not None

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.signal_name is None:
            self.signal_name = name
            log.warning("%s received: finishing this loop, saving a checkpoint, then stopping.",
                        name)
        else:
            log.warning("%s received again: still saving; the run stops when the save is done.",
                        name)


@contextlib.contextmanager
def stop_on_signals():
    """Yields a ``StopRequest`` that SIGTERM/SIGINT set while the block runs. Outside the main
    thread (where Python cannot install handlers) it yields one that never gets set."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.signal(s, request._handle) for s in STOP_SIGNALS}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
