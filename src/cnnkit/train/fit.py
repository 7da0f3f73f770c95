"""``fit``: the one training loop of cnnkit, task-agnostic, with run folders and exact resume."""
import math
import os
import time
import warnings

from cnnkit.autograd.tensor import no_grad
from cnnkit.backend import to_numpy
from cnnkit.data.loader import DataLoader
from cnnkit.train import rng as rng_state
from cnnkit.train.checkpoint import _load_into, _read, resolve
from cnnkit.train.history import History, ProgressBar
from cnnkit.train.interrupt import TrainingInterrupted, catch_signals
from cnnkit.train.losses import batch_size_of, resolve_loss, resolve_metrics, split_loss
from cnnkit.train.run import RunFolder


def fit(model, data, *, epochs=10, loss="cross_entropy", metrics=None, optimizer=None, scheduler=None,
        scheduler_interval="epoch", batch_size=64, val=None, callbacks=(), seed=0, verbose=True, transform=None,
        time_limit=None, run=None, resume=None, gradient_hook=None):
    """Train ``model``: mini-batches, a loss, metrics, callbacks, checkpoints, and exact resume.

    Parameters
    ----------
    model : Module
    data : Dataset, tuple of arrays or DataLoader
        Training data. A Dataset or ``(x, y, ...)`` is batched by a shuffling
        ``DataLoader(batch_size, seed, transform)``; pass a DataLoader for a
        batch sampler or a ``batch_transform``. ``batch[0]`` is the model's input.
    epochs : int, default 10
        The epoch to stop after (counting the epochs of a resumed run).
    loss : str or callable, default "cross_entropy"
        A name of ``cnnkit.train.losses.LOSSES`` (the model's outputs for
        ``batch[0]`` against ``batch[1]``), or ``loss(model, batch)`` returning
        a scalar Tensor or ``(Tensor, outputs)``; ``outputs`` go to the metrics.
    metrics : list of str or dict, optional
        Names (``"accuracy"``) or ``{name: fn(outputs, batch) -> float}``,
        averaged over each epoch weighted by batch size. Default: accuracy
        for cross-entropy, none otherwise.
    optimizer : Optimizer, optional
        Default: ``Adam(lr=1e-3)`` over the trainable (not frozen) parameters.
    scheduler : LRScheduler, optional
    scheduler_interval : {"epoch", "batch"}, default "epoch"
        Step the scheduler after every epoch or after every batch.
    batch_size : int, default 64
    val : Dataset, tuple of arrays or DataLoader, optional
        Evaluated after every epoch with the same loss and metrics, in
        evaluation mode without a graph: ``val_loss``, ``val_<metric>``.
    callbacks : sequence of Callback
        ``on_train_begin(model)``, ``on_epoch_end(model, epoch, logs)``
        (may add keys to ``logs``; returns True to stop), ``on_train_end(model)``.
    seed : int, default 0
        Seed of the shuffling: the same seed, model and data repeat a run.
    verbose : bool, default True
        Show a progress bar on stderr.
    transform : callable, optional
        Augmentation of each training batch's inputs (never of ``val``).
    time_limit : float, optional
        Seconds: when they have passed, the current epoch ends after the
        current batch (it is validated and saved) and training stops.
    run : RunFolder or str, optional
        Write ``weights/last.safetensors`` after every epoch, ``best``,
        ``results.csv`` and ``curves.png`` there.
    resume : str, optional
        A checkpoint or run folder written by ``fit``: restore the weights,
        optimizer, scheduler, random generators, callbacks' state, epoch and
        history, and continue up to ``epochs``. Use the same data, model and
        options as the interrupted run: then the result equals an
        uninterrupted run's bit for bit.
    gradient_hook : callable, optional
        ``gradient_hook(parameters)``, called after every backward pass and
        before the optimizer's step with the optimizer's parameters (in the
        order of its parameter groups); it may change their ``.grad`` in place.
        Data-parallel training (:mod:`cnnkit.distributed`) all-reduces the
        gradients of every replica here.

    Returns
    -------
    History
        One value per epoch for ``loss``, each metric, their ``val_``
        versions, callbacks' additions, ``lr`` and ``seconds``.

    Raises
    ------
    TrainingInterrupted
        On SIGINT or SIGTERM, after the current batch; the model then holds
        the weights of the last finished epoch (as ``run``'s ``last`` does).

    Notes
    -----
    A NaN or infinite loss stops training: the weights of the last finished
    epoch are put back, ``history.stopped`` is ``"nan"`` and
    ``history.stop_reason`` says where; nothing of the bad epoch is saved.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    loss_fn = resolve_loss(loss)
    metric_fns = resolve_metrics(metrics, loss_fn)
    loader = training_loader(data, batch_size, seed, transform)
    val_loader = None if val is None else val if isinstance(val, DataLoader) else DataLoader(
        val, batch_size=max(batch_size, 256))
    optimizer = optimizer if optimizer is not None else default_optimizer(model)
    if run is not None and not isinstance(run, RunFolder):
        run = RunFolder(run)
    callbacks = list(callbacks)
    owners = {"loader": loader, "model": model, "loss": loss_fn, "callbacks": callbacks}
    history = History()
    for callback in callbacks:
        callback.on_train_begin(model)
    if resume is not None:
        history = _resume(resume, model, optimizer, scheduler, owners, callbacks, run)
    started, last_good = time.perf_counter(), model.state_dict()
    with catch_signals() as stop:
        for epoch in range(len(history) + 1, epochs + 1):
            bar = ProgressBar(len(loader), f"epoch {epoch}/{epochs}") if verbose else None
            logs, trouble = _train_epoch(model, loader, loss_fn, metric_fns, optimizer, scheduler,
                                         scheduler_interval, bar, stop, started, time_limit, gradient_hook)
            if stop:
                model.load_state_dict(last_good)
                if bar:
                    bar.close(interrupted=stop.signal_name)
                _finish(run, history, callbacks, model)
                raise TrainingInterrupted(stop.signal_name, epoch, trouble, len(history),
                                          run.last if run and len(history) else None)
            if trouble is not None and not isinstance(trouble, int):
                model.load_state_dict(last_good)
                if bar:
                    bar.close(loss="nan")
                history.stopped = "nan"
                history.stop_reason = (f"the loss became {trouble[0]} at epoch {epoch}, batch {trouble[1]}; "
                                       f"stopped and restored the weights after epoch {epoch - 1}")
                warnings.warn(history.stop_reason + " (lower the learning rate?)", RuntimeWarning, stacklevel=2)
                break
            time_up = bool(time_limit) and time.perf_counter() - started >= time_limit
            if val_loader is not None:
                logs.update({f"val_{k}": v for k, v in evaluate_loader(model, val_loader, loss_fn, metric_fns).items()})
            if scheduler is not None and scheduler_interval == "epoch":
                scheduler.step()
            stops = [bool(callback.on_epoch_end(model, epoch, logs)) for callback in callbacks]
            logs["seconds"] = time.perf_counter() - logs["seconds"]
            history.append(epoch, logs)
            if bar:
                bar.close(**{k: v for k, v in logs.items() if k not in ("lr", "seconds")})
            if run is not None:
                run.save_epoch(model, epoch, logs, history, optimizer=optimizer, scheduler=scheduler,
                               rng=rng_state.get_state(owners), callbacks=_callback_states(callbacks))
            last_good = model.state_dict()
            if any(stops):
                history.stopped = "early"
                history.stop_reason = next(c.stop_reason for c, s in zip(callbacks, stops) if s)
                break
            if time_up:
                history.stopped, history.stop_reason = "time", f"the time limit of {time_limit:g} s was reached"
                break
    _finish(run, history, callbacks, model)
    model.eval()
    return history


def training_loader(data, batch_size=64, seed=0, transform=None):
    """The loader ``fit`` trains from: ``data`` when it is a DataLoader, else a shuffling one over it."""
    if isinstance(data, DataLoader):
        if transform is not None:
            raise ValueError("pass transform to the DataLoader, not to fit, when data is a DataLoader")
        return data
    return DataLoader(data, batch_size=batch_size, shuffle=True, seed=seed, transform=transform)


def default_optimizer(model):
    """``fit``'s optimizer when none is given: Adam (lr 1e-3) over the trainable (not frozen) parameters."""
    from cnnkit.optim import Adam

    return Adam([p for p in model.parameters() if p.requires_grad])


def _train_epoch(model, loader, loss_fn, metric_fns, optimizer, scheduler, scheduler_interval, bar, stop, started,
                 time_limit, gradient_hook=None):
    """One pass over ``loader``: ``(logs, batches)``, or ``(logs, (value, batch))`` at a non-finite loss.

    The pass ends early, after the current batch, when a signal sets ``stop`` or the time limit passes.
    """
    model.train()
    logs = {"lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter()}
    totals, seen, batches = {"loss": 0.0, **{name: 0.0 for name in metric_fns}}, 0, 0
    parameters = [p for group in optimizer.param_groups for p in group["params"]] if gradient_hook else None
    for batch in loader:
        batches += 1
        optimizer.zero_grad()
        value, outputs = split_loss(loss_fn(model, batch))
        loss_value = float(value.item())
        if not math.isfinite(loss_value):
            return logs, (loss_value, batches)
        value.backward()
        if gradient_hook is not None:
            gradient_hook(parameters)
        optimizer.step()
        if scheduler is not None and scheduler_interval == "batch":
            scheduler.step()
        n = batch_size_of(batch)
        totals["loss"] += loss_value * n
        for name, fn in metric_fns.items():
            totals[name] += fn(outputs, batch) * n
        seen += n
        if bar:
            rate = seen / max(time.perf_counter() - logs["seconds"], 1e-9)
            bar.update(**{k: v / seen for k, v in totals.items()}, **{"img/s": f"{rate:.0f}"})
        if stop or (time_limit and time.perf_counter() - started >= time_limit):
            break
    logs.update({k: (v / seen if seen else float("nan")) for k, v in totals.items()})
    return logs, batches


def evaluate_loader(model, loader, loss_fn, metric_fns):
    """Mean loss and metrics over a loader's batches, in evaluation mode, without a graph."""
    was_training = model.training
    model.eval()
    totals, seen = {"loss": 0.0, **{name: 0.0 for name in metric_fns}}, 0
    try:
        with no_grad():
            for batch in loader:
                value, outputs = split_loss(loss_fn(model, batch))
                n = batch_size_of(batch)
                totals["loss"] += float(to_numpy(value.data)) * n
                for name, fn in metric_fns.items():
                    totals[name] += fn(outputs, batch) * n
                seen += n
    finally:
        model.train(was_training)
    return {k: (v / seen if seen else float("nan")) for k, v in totals.items()}


def _callback_states(callbacks):
    """JSON states of the callbacks that have one, by position."""
    return {str(i): c.state_dict() for i, c in enumerate(callbacks) if hasattr(c, "state_dict")}


def _resume(resume, model, optimizer, scheduler, owners, callbacks, run):
    """Restore a run from its checkpoint; return its history."""
    path = os.fspath(resume)
    if os.path.isdir(path):
        path = os.path.join(path, "weights", "last.safetensors")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{resume} has no weights/last.safetensors to resume from")
    path = resolve(path)
    state, optimizer_state, meta = _read(path)
    if meta.get("epoch") is None or meta.get("history") is None or optimizer_state is None:
        raise ValueError(f"{path} was not written by fit (no epoch, history or optimizer state): it can be "
                         f"loaded with train.load_weights, not resumed")
    _load_into(model, state, path, meta["model"]["name"])
    if optimizer_state.get("type") != type(optimizer).__name__:
        raise ValueError(f"{path} was trained with {optimizer_state.get('type')}, not {type(optimizer).__name__}")
    optimizer.load_state_dict(optimizer_state)
    if scheduler is not None:
        if meta.get("scheduler") is None:
            raise ValueError(f"{path} holds no scheduler state, but this run has a {type(scheduler).__name__}")
        scheduler.load_state_dict(meta["scheduler"])
    if meta.get("rng") is not None:
        rng_state.set_state(owners, meta["rng"], source=path)
    states = meta.get("callbacks") or {}
    for i, callback in enumerate(callbacks):
        if hasattr(callback, "load_state_dict") and str(i) in states:
            callback.load_state_dict(states[str(i)])
    if run is not None:
        run.restore(states)
    history = History.from_dict(meta["history"])
    if len(history) != meta["epoch"]:
        raise ValueError(f"{path}: its history has {len(history)} epochs but it says epoch {meta['epoch']}")
    return history


def _finish(run, history, callbacks, model):
    """Callbacks' ``on_train_end`` and the run folder's plots."""
    for callback in callbacks:
        callback.on_train_end(model)
    if run is not None:
        run.finish(history)
