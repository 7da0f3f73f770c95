"""Stopping training cleanly: SIGINT and SIGTERM end the current batch, not the process mid-write."""
import contextlib
import signal
import threading


class TrainingInterrupted(Exception):
    """Raised by ``fit`` after SIGINT (Ctrl-C) or SIGTERM, at the end of the current batch.

    The model holds the weights of the last finished epoch, which is also what
    the run folder's ``weights/last.safetensors`` holds, if there is one.

    Attributes
    ----------
    signal_name : str
        ``"SIGINT"`` or ``"SIGTERM"``.
    epoch, batch : int
        Where training was when the signal came.
    last_epoch : int
        The last finished epoch (0 if none).
    checkpoint : str or None
        The checkpoint to resume from (the run folder's ``last``), if one was written.
    """

    def __init__(self, signal_name, epoch, batch, last_epoch, checkpoint):
        self.signal_name, self.epoch, self.batch = signal_name, epoch, batch
        self.last_epoch, self.checkpoint = last_epoch, checkpoint
        where = f"{checkpoint} holds epoch {last_epoch}" if checkpoint else "no checkpoint was written"
        super().__init__(f"interrupted by {signal_name} in epoch {epoch}, batch {batch}; {where}")


class StopFlag:
    """Set by SIGINT/SIGTERM while ``catch_signals`` is active; a second SIGINT interrupts at once."""

    def __init__(self):
        self.signal_name = None

    def __bool__(self):
        return self.signal_name is not None

    def _handle(self, signum, frame):
        if self.signal_name == "SIGINT" and signum == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: the user does not want to wait for the batch
        self.signal_name = signal.Signals(signum).name


@contextlib.contextmanager
def catch_signals():
    """Yield a ``StopFlag`` that SIGINT and SIGTERM set, restoring the previous handlers afterwards.

    Only the main thread can install handlers; elsewhere the flag is never set
    and signals behave as usual.
    """
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.signal(s, flag._handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
