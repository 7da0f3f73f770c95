"""Long jobs (style transfer, training): one running per kind, the others wait in a queue the page shows."""
import itertools
import logging
import threading
import time
from collections import deque

log = logging.getLogger(__name__)


class Job:
    """One long task: its state, progress in [0, 1], a message, an intermediate result, the final result or error.

    ``run(job)`` does the work; it reports through :meth:`update` and checks
    :attr:`cancelled` to stop early.
    """

    def __init__(self, job_id, kind, label, run):
        self.id, self.kind, self.label, self.run = job_id, kind, label, run
        self.state, self.progress, self.message = "queued", 0.0, "waiting"
        self.partial, self.result, self.error = None, None, None
        self.cancelled = False
        self.created, self.started, self.finished = time.time(), None, None

    def update(self, progress=None, message=None, partial=None):
        """Report progress (0..1), a one-line message and an intermediate result (any JSON-able value)."""
        if progress is not None:
            self.progress = float(progress)
        if message is not None:
            self.message = message
        if partial is not None:
            self.partial = partial

    def to_dict(self, position=None):
        """The job as the page sees it; ``position`` is its place in the queue (1 = next)."""
        elapsed = (self.finished or time.time()) - self.started if self.started else 0.0
        return {"id": self.id, "kind": self.kind, "label": self.label, "state": self.state,
                "progress": round(self.progress, 4), "message": self.message, "position": position,
                "elapsed": round(elapsed, 2), "partial": self.partial, "result": self.result, "error": self.error}


class JobQueue:
    """Jobs by kind: each kind has one worker thread, so one job of a kind runs at a time, in submission order.

    Parameters
    ----------
    keep : int, default 20
        Finished jobs remembered per kind (older ones are forgotten).
    """

    def __init__(self, keep=20):
        self.keep = keep
        self._jobs, self._waiting, self._workers = {}, {}, {}
        self._ids = itertools.count(1)
        self._lock = threading.Condition()

    def submit(self, kind, label, run):
        """Queue ``run(job)`` under ``kind``; returns the Job (its state is "queued" until a worker takes it)."""
        with self._lock:
            job = Job(str(next(self._ids)), kind, label, run)
            self._jobs[job.id] = job
            self._waiting.setdefault(kind, deque()).append(job)
            if kind not in self._workers or not self._workers[kind].is_alive():
                worker = threading.Thread(target=self._work, args=(kind,), name=f"cnnkit-serve-{kind}", daemon=True)
                self._workers[kind] = worker
                worker.start()
            self._forget_old(kind)
            return job

    def get(self, job_id):
        """The job with this id; a KeyError naming it when there is none."""
        with self._lock:
            if job_id not in self._jobs:
                raise KeyError(f"no job {job_id!r} (finished jobs are forgotten after a while)")
            return self._jobs[job_id]

    def cancel(self, job_id):
        """Ask a job to stop: a queued job is dropped, a running one sees ``job.cancelled``."""
        with self._lock:
            job = self.get(job_id)
            job.cancelled = True
            waiting = self._waiting.get(job.kind, deque())
            if job in waiting:
                waiting.remove(job)
                job.state, job.message, job.finished = "cancelled", "cancelled before it started", time.time()
            return job

    def position(self, job):
        """1 for the next job to run, 2 for the one after...; None once it runs."""
        waiting = list(self._waiting.get(job.kind, ()))
        return waiting.index(job) + 1 if job in waiting else None

    def describe(self, job):
        """``job.to_dict`` with its queue position."""
        with self._lock:
            return job.to_dict(self.position(job))

    def listing(self, kind=None):
        """Every remembered job (of ``kind``), newest first, as dicts without their (large) partial results."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if kind is None or j.kind == kind]
            rows = [j.to_dict(self.position(j)) for j in sorted(jobs, key=lambda j: -int(j.id))]
        for row in rows:
            row.pop("partial")
            row.pop("result")
        return rows

    def _forget_old(self, kind):
        """Drop the oldest finished jobs of ``kind`` beyond ``keep``."""
        done = [j for j in self._jobs.values() if j.kind == kind and j.state in ("done", "failed", "cancelled")]
        for job in sorted(done, key=lambda j: int(j.id))[:max(0, len(done) - self.keep)]:
            del self._jobs[job.id]

    def _work(self, kind):
        """The worker of one kind: run its queued jobs one after the other, then end."""
        while True:
            with self._lock:
                waiting = self._waiting.get(kind)
                if not waiting:
                    self._workers.pop(kind, None)
                    return
                job = waiting.popleft()
                job.state, job.started, job.message = "running", time.time(), "started"
            try:
                job.result = job.run(job)
                # progress and message before the state, so a poll that sees "done" sees them too
                job.progress = job.progress if job.cancelled else 1.0
                job.message = "stopped" if job.cancelled else "done"
                job.state = "cancelled" if job.cancelled else "done"
            except Exception as exc:  # a job's failure is shown on the page, the worker goes on
                log.warning("job %s (%s) failed", job.id, kind, exc_info=True)
                job.error = one_line(exc)
                job.state = "failed"
            job.finished = time.time()


def one_line(exc):
    """The message of an error as one line, with its type when the message is empty or unexpected."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    text = "; ".join(line.strip() for line in text.splitlines() if line.strip())
    if not isinstance(exc, (ValueError, TypeError, KeyError, OSError)):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text or type(exc).__name__
