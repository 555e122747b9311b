"""Stopping on SIGTERM / SIGINT without losing work (a preempted VM, a Ctrl-C).

While training, the first signal only asks the loop to stop: the current loop of
``steps_per_loop`` steps finishes, a checkpoint is written, and ``train`` returns with
``logs["stopped_by"]`` naming the signal. In a cluster the workers vote after every loop (one
small all-reduce), so a signal to any one worker stops them all after the same loop; the chief
saves. Further signals during that save are ignored, so the
checkpoint being written is never cut off half-way (and orbax's write-then-rename keeps the
previous one valid even against SIGKILL).
"""
import contextlib
import logging
import signal
import threading

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
SIGNAL_NAMES = tuple(signal.Signals(s).name for s in STOP_SIGNALS)


class StopRequest:
    """Set by the signal handlers; read by the training loop between loops."""

    def __init__(self, coordinated=False):
        self.signal_name = None      # the signal that stops this process
        self.received_here = False   # whether this process received it
        self.coordinated = coordinated
        self._agreed = False

    def __bool__(self):
        """Stop now? Alone: once a signal came. In a cluster: once the workers agreed."""
        return self._agreed if self.coordinated else self.signal_name is not None

    def agree(self, votes):
        """Takes the workers' ``votes`` (how many of them received each of ``SIGNAL_NAMES``):
        any vote stops every worker, after the same loop."""
        for name, count in zip(SIGNAL_NAMES, votes):
            if count > 0:
                if self.signal_name is None:
                    self.signal_name = name
                    log.warning("%s received by another worker: stopping with it.", name)
                self._agreed = True
                return

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.signal_name is None:
            self.signal_name = name
            self.received_here = True
            log.warning("%s received: finishing this loop, saving a checkpoint, then stopping.",
                        name)
        else:
            log.warning("%s received again: still saving; the run stops when the save is done.",
                        name)


@contextlib.contextmanager
def stop_on_signals(coordinated=False):
    """Yields a ``StopRequest`` that SIGTERM/SIGINT set while the block runs (``coordinated``:
    it stops only once ``agree`` says so). Outside the main thread (where Python cannot install
    handlers) it yields one that never gets set."""
    request = StopRequest(coordinated)
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.signal(s, request._handle) for s in STOP_SIGNALS}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
