"""Data-parallel training on Ray: ``train.fit`` on N replicas, gradients all-reduced over a ring of actors.

Every replica holds the whole model and takes a contiguous share of every
global batch (same shuffle, same augmentation draws as one worker). After the
backward pass, ``fit``'s gradient hook all-reduces the gradients, weighted by
share size, over a ring of actors (:mod:`cnnkit.distributed.allreduce`), and
every replica takes the same optimizer step from the same bits: the replicas
never drift apart. Rank 0 runs on the driver's node and writes the run folder.
"""
import os

from cnnkit.distributed.cluster import check_workers, session
from cnnkit.distributed.replica import Replica, check_batches
from cnnkit.train.checkpoint import resolve
from cnnkit.train.fit import default_optimizer, training_loader
from cnnkit.train.interrupt import TrainingInterrupted
from cnnkit.train.run import RunFolder


class WorkerFailed(RuntimeError):
    """A replica's process died and no retry was left (or there was no checkpoint to restart from)."""


def fit(model, data, *, workers=2, address=None, max_failures=0, epochs=10, batch_size=64, seed=0, transform=None,
        optimizer=None, scheduler=None, callbacks=(), run=None, resume=None, verbose=True, **kwargs):
    """``train.fit`` with synchronous data-parallel SGD over ``workers`` Ray actors.

    Takes ``train.fit``'s arguments (``loss``, ``metrics``, ``val``,
    ``scheduler_interval``... pass through) and gives the same results: with
    the same seed, global ``batch_size`` and a loss that is a mean over
    samples, N workers reach one worker's weights up to float rounding.

    Parameters
    ----------
    model : Module
        Its weights are replaced by the trained ones at the end.
    data : Dataset, tuple of arrays or DataLoader
    workers : int, default 2
        Replicas, one CPU each. 1 without ``address`` is plain ``train.fit``.
    address : str, optional
        A running Ray cluster to join; by default a local one of ``workers``
        CPUs is started for the call.
    max_failures : int, default 0
        How many times a replica may die before giving up: each time every
        replica restarts from the run folder's last checkpoint (needs ``run``).
        Resume is exact, so a restarted run ends with the weights of one that
        never failed.
    epochs, batch_size, seed, transform, optimizer, scheduler, callbacks, run, resume, verbose
        As in ``train.fit``. ``batch_size`` is the global batch, shared out
        between the replicas; ``callbacks`` run on every replica and see the
        training loss and metrics over all replicas; the progress bar is rank 0's.
    **kwargs
        ``loss``, ``metrics``, ``val``, ``scheduler_interval``.

    Returns
    -------
    History

    Raises
    ------
    WorkerFailed
        A replica died ``max_failures + 1`` times, or without a checkpoint to restart from.
    TrainingInterrupted
        On Ctrl-C in the driver: the replicas are stopped; the run folder keeps the last finished epoch.

    Notes
    -----
    BatchNorm normalises with each replica's share in training (as without
    synchronised BatchNorm); the running statistics are averaged over the
    replicas at every step, so all of them, and evaluation, use the same ones.
    Dropout draws masks per replica. With either, N workers are not expected to
    equal one. ``time_limit`` is refused: replicas must agree when to stop.
    """
    from cnnkit import train

    check_workers(workers)
    if kwargs.get("time_limit") is not None:
        raise ValueError("time_limit is not supported with more than one worker; use epochs")
    if isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 0:
        raise ValueError(f"max_failures must be an int >= 0, got {max_failures!r}")
    common = dict(epochs=epochs, optimizer=optimizer, scheduler=scheduler, callbacks=list(callbacks), verbose=verbose,
                  **kwargs)
    if workers == 1 and address is None:
        return train.fit(model, data, batch_size=batch_size, seed=seed, transform=transform, run=run, resume=resume,
                         **common)
    loader = training_loader(data, batch_size, seed, transform)
    check_batches(loader, workers)
    if optimizer is None:
        common["optimizer"] = optimizer = default_optimizer(model)
    if run is not None and not isinstance(run, RunFolder):
        run = RunFolder(run)
    job = dict(model=model, run=run, **common)
    checkpoint = _read_checkpoint(resume) if resume is not None else None
    with session(workers, address) as ray:
        failures = 0
        while True:
            try:
                result = _run_replicas(ray, loader, job, workers, checkpoint)
                break
            except _ReplicaDied as exc:
                failures += 1
                last = run.last if run is not None and os.path.isfile(run.last) else None
                if failures > max_failures or (last is None and checkpoint is None):
                    raise WorkerFailed(f"a training replica died ({exc}); "
                                       + (f"{run.last} holds the last finished epoch: resume from it"
                                          if last else "no checkpoint was written to restart from")) from None
                if last is not None:
                    checkpoint = _read_checkpoint(last)
            except KeyboardInterrupt:
                last = run.last if run is not None and os.path.isfile(run.last) else None
                epoch = train.load_checkpoint(last).epoch if last else 0
                raise TrainingInterrupted("SIGINT", epoch + 1, 0, epoch, last) from None
    model.load_state_dict(result["state"])
    optimizer.load_state_dict(result["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(result["scheduler"])
    model.eval()
    return result["history"]


class _ReplicaDied(Exception):
    """A replica's process is gone (killed, out of memory, its node lost)."""


def _read_checkpoint(path):
    """The bytes of the checkpoint to resume from: a file, or a run folder's ``weights/last.safetensors``."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "weights", "last.safetensors")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{os.path.dirname(os.path.dirname(path))} has no weights/last.safetensors "
                                    f"to resume from")
    with open(resolve(path), "rb") as f:
        return f.read()


def _start_replicas(ray, workers):
    """``workers`` replica actors in a ring, rank 0 on this node (it writes the run folder here)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor = ray.remote(num_cpus=1, max_concurrency=2)(Replica)
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    replicas = [actor.options(scheduling_strategy=here if rank == 0 else "SPREAD").remote(rank, workers)
                for rank in range(workers)]
    ray.get([r.connect.remote(replicas[(rank + 1) % workers]) for rank, r in enumerate(replicas)])
    return replicas


def _run_replicas(ray, loader, job, workers, checkpoint):
    """Run every replica's ``fit`` to its end; return rank 0's result (or the one that stopped on a NaN loss)."""
    replicas = _start_replicas(ray, workers)
    try:
        loader_ref, job_ref = ray.put(loader), ray.put(job)
        pending = {r.fit.remote(loader_ref, job_ref, checkpoint): rank for rank, r in enumerate(replicas)}
        results = {}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            rank = pending.pop(done[0])
            try:
                results[rank] = ray.get(done[0])
            except ray.exceptions.RayActorError as exc:
                raise _ReplicaDied(f"rank {rank}: {type(exc).__name__}") from None
            except ray.exceptions.RayTaskError as exc:
                raise exc.as_instanceof_cause() from None
            # a replica that met a non-finite loss has stopped; the others wait for it in the all-reduce
            if results[rank]["history"].stopped == "nan":
                return results[rank]
        return results[0]
    finally:
        for r in replicas:
            ray.kill(r)

