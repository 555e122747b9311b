"""Stopping on SIGTERM / SIGINT without losing work (a preempted VM, a Ctrl-C).

While training, the first signal asks the loop to stop at the next step boundary: the compiled
loop reads a stop flag (``StepStop``) before every step and ends early, a checkpoint of that step
is written, and ``train`` returns with ``logs["stopped_by"]`` naming the signal. The time from the
signal to the exit is one step plus the save, whatever ``steps_per_loop`` is. Python runs signal
handlers in the main thread only, and never during a long TensorFlow call, so the loop runs in a
helper thread while the main thread waits (``run_while_watching``) and sets the flag.

In a cluster the workers vote before every step (one small all-reduce), so a signal to any one
worker stops them all before the same step; the chief saves. Further signals during that save
are ignored, so the checkpoint being written is never cut off half-way (and orbax's
write-then-rename keeps the previous one valid even against SIGKILL). A checkpoint that failed to
write stops the loop the same way (``StepStop.SAVE_FAILED``).
"""
import contextlib
import logging
import signal
import threading

import tensorflow as tf

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
SIGNAL_NAMES = tuple(signal.Signals(s).name for s in STOP_SIGNALS)
WATCH_SECONDS = 0.05  # how often the main thread looks at what it watches while a loop runs


class StopRequest:
    """Set by the signal handlers; read by the training loop."""

    def __init__(self, coordinated=False, on_signal=None):
        self.signal_name = None      # the signal that stops this process
        self.received_here = False   # whether this process received it
        self.coordinated = coordinated
        self.on_signal = on_signal   # called (in the main thread) when a signal arrives
        self._agreed = False

    def __bool__(self):
        """Stop now? Alone: once a signal came. In a cluster: once the workers agreed."""
        return self._agreed if self.coordinated else self.signal_name is not None

    def agree(self, votes):
        """Takes the workers' ``votes`` (how many of them received each of ``SIGNAL_NAMES``):
        any vote stops every worker, before the same step."""
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
            log.warning("%s received: stopping after this step, saving a checkpoint.", name)
            if self.on_signal is not None:
                self.on_signal(self)
        else:
            log.warning("%s received again: still saving; the run stops when the save is done.",
                        name)


@contextlib.contextmanager
def stop_on_signals(coordinated=False, on_signal=None):
    """Yields a ``StopRequest`` that SIGTERM/SIGINT set while the block runs (``coordinated``:
    it stops only once ``agree`` says so; ``on_signal(request)`` is called at the first signal).
    Outside the main thread (where Python cannot install handlers) it yields one that never
    gets set."""
    request = StopRequest(coordinated, on_signal)
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.signal(s, request._handle) for s in STOP_SIGNALS}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class StepStop:
    """The stop request as the compiled loop sees it before every step.

    ``local``: this process's reasons to stop, ``[SIGTERM, SIGINT, save failed]`` (1.0 or 0.0),
    set from the main thread while the loop runs. ``requested()`` (traced into the loop) turns
    them into ``votes``: with several workers summed over all of them (one all-reduce per step,
    every worker joins), so every worker stops before the same step.
    """

    SAVE_FAILED = len(SIGNAL_NAMES)  # index of "a checkpoint failed to write" in the votes

    def __init__(self, strategy, workers):
        self.strategy, self.workers = strategy, workers
        size = len(SIGNAL_NAMES) + 1
        with tf.init_scope():
            self.local = tf.Variable(tf.zeros([size]), trainable=False, name="stop_local")
            self.votes = tf.Variable(tf.zeros([size]), trainable=False, name="stop_votes")

    def reset(self):
        self.local.assign(tf.zeros_like(self.local))
        self.votes.assign(tf.zeros_like(self.votes))

    def signal_received(self, request):
        """The handler's callback: the loop stops before its next step."""
        self.local.assign(tf.one_hot(SIGNAL_NAMES.index(request.signal_name), self.local.shape[0]))

    def save_failed(self):
        self.local.assign(tf.one_hot(self.SAVE_FAILED, self.local.shape[0]))

    def requested(self):
        """Inside the loop: whether to stop before this step (records ``votes``)."""
        votes = self.local.read_value()
        if self.workers > 1:  # one replica per worker votes: the sum counts workers
            per_worker = votes / (self.strategy.num_replicas_in_sync / self.workers)
            votes = self.strategy.reduce(
                tf.distribute.ReduceOp.SUM, self.strategy.run(lambda: tf.identity(per_worker)),
                axis=None)
        self.votes.assign(votes)
        return tf.reduce_any(votes > 0)

    def vote_counts(self):
        """After a loop: ``votes`` as floats (per signal, then the save failure)."""
        return [float(v) for v in self.votes.numpy()]


def run_while_watching(fn, watch=None):
    """``fn()`` in a helper thread while the main thread waits, so that signal handlers run
    during it (and ``watch()`` every ``WATCH_SECONDS``); its result, or its exception re-raised.
    Outside the main thread, plainly ``fn()``."""
    if threading.current_thread() is not threading.main_thread():
        return fn()
    outcome = {}

    def target():
        try:
            outcome["value"] = fn()
        except BaseException as err:  # noqa: BLE001  (handed to the main thread)
            outcome["error"] = err

    thread = threading.Thread(target=target, name="tfcls-train-loop", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(WATCH_SECONDS)
        if watch is not None:
            watch()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
