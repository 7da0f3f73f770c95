"""Joining or starting the Ray cluster that ``--workers N`` / ``--ray ADDRESS`` ask for."""
import contextlib
import logging

from cnnkit.utils import require_extra


def check_workers(workers):
    """``workers`` as an int >= 1, or a ValueError naming it."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    return workers


@contextlib.contextmanager
def session(workers, address=None):
    """Yield the ``ray`` module, connected to a cluster with room for ``workers`` workers.

    Parameters
    ----------
    workers : int
        Workers to run (one CPU each).
    address : str, optional
        A running cluster to join (``ray start --head`` prints it, e.g.
        ``"10.0.0.5:6379"``, or ``"auto"``). Without it a local cluster of
        ``workers`` CPUs on 127.0.0.1 is started, and stopped afterwards.
        When this process is already connected (``ray.init`` was called), that
        cluster is used and left running.
    """
    ray = require_extra("ray")
    check_workers(workers)
    started = not ray.is_initialized()
    if started and address:
        ray.init(address=address, logging_level=logging.WARNING)
    elif started:
        ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.WARNING,
                 _node_ip_address="127.0.0.1")
    try:
        available = ray.cluster_resources().get("CPU", 0)
        if available < workers:
            raise ValueError(f"the Ray cluster{' at ' + address if address else ''} has {available:g} CPUs, "
                             f"fewer than the {workers} workers asked for")
        yield ray
    finally:
        if started:
            ray.shutdown()
