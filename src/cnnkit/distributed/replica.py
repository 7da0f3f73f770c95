"""One data-parallel replica: its share of every batch, the gradient all-reduce, and ``train.fit`` on top.

Nothing here imports Ray: a replica is a plain object that Ray runs as an actor
(:mod:`cnnkit.distributed.training`), talking to its ring neighbour through the
``send`` function it is given.
"""
import copy
import os
import tempfile

import numpy as np

from cnnkit.data.loader import DataLoader
from cnnkit.distributed.allreduce import FlatBuffer, Inbox, Ring
from cnnkit.nn.regularization import BatchNorm2d
from cnnkit.train.callbacks import Callback
from cnnkit.train.losses import batch_size_of


def share_bounds(n, rank, world):
    """``(start, stop)`` of ``rank``'s contiguous share of ``n`` samples (``np.array_split``'s sizes)."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


class ShardedLoader(DataLoader):
    """A ``DataLoader`` that yields only this rank's share of each of its batches.

    Every rank draws the same global batch (same shuffle, same augmentation, so
    the same random states as one worker's loader) and keeps its contiguous
    slice of it. It has the attributes, and so the generators, of the loader
    it wraps: a checkpoint of one worker resumes on N, and back.

    Parameters
    ----------
    loader : DataLoader
    rank, world : int

    Attributes
    ----------
    share : (int, int)
        The last batch's share and global sizes, for weighting its gradient.
    samples : int
        Samples of this rank in the current epoch so far.
    """

    def __init__(self, loader, rank, world):
        self.__dict__.update(vars(loader))
        self.rank, self.world, self.share, self.samples = rank, world, (0, 0), 0

    def __iter__(self):
        self.samples = 0
        for batch in super().__iter__():
            n = batch_size_of(batch)
            if n < self.world:
                raise ValueError(f"a batch of {n} samples cannot be shared by {self.world} workers; choose a batch "
                                 f"size and data size whose last batch has at least {self.world} samples "
                                 f"(or drop_last=True)")
            start, stop = share_bounds(n, self.rank, self.world)
            self.share, self.samples = (stop - start, n), self.samples + stop - start
            yield tuple(a[start:stop] for a in batch)


def check_batches(loader, world):
    """A ValueError now, rather than mid-training, when a plain loader's last batch is smaller than ``world``."""
    if loader.batch_sampler is not None:
        return
    n, size = len(loader.arrays[0]), loader.batch_size
    last = n % size
    if size < world or (last and last < world and not loader.drop_last):
        raise ValueError(f"{n} samples in batches of {size} leave a batch of {min(size, last or size)} samples, "
                         f"too few to share between {world} workers; change the batch size or drop_last")


def batch_norms(model):
    """The BatchNorm layers of ``model``, in a stable order."""
    return [m for _, m in model.named_modules() if isinstance(m, BatchNorm2d)]


class GradientAllReduce:
    """``fit``'s gradient hook: the global batch's mean gradient on every replica, and equal BatchNorm statistics.

    Each replica's gradient is the mean over its share of ``n_i`` samples;
    weighted by ``n_i / n`` and summed over the replicas it is the mean over the
    global batch of ``n``: what one worker computes. BatchNorm's running mean and
    variance are averaged over the replicas in the same message, so every
    replica keeps the same buffers (the batch statistics a replica normalises
    with in training are its share's, as in data-parallel training without
    synchronised BatchNorm).
    """

    def __init__(self, ring, model, loader):
        self.ring, self.loader, self.norms, self.buffer = ring, loader, batch_norms(model), FlatBuffer()

    def __call__(self, parameters):
        n, total = self.loader.share
        grads = [p.grad if p.grad is not None else np.zeros_like(p.data) for p in parameters]
        stats = [b for m in self.norms for b in (m.running_mean, m.running_var)]
        dtype = np.result_type(*(g.dtype for g in grads)) if grads else np.dtype(np.float32)
        self.ring.allreduce(self.buffer.fill(grads + stats, [n / total] * len(grads) + [1 / self.ring.world] * len(stats),
                                             dtype))
        summed = self.buffer.split(grads + stats)
        for p, g in zip(parameters, summed):
            if p.grad is not None:
                p.grad = g if g.dtype == p.grad.dtype else g.astype(p.grad.dtype)
        for buffer, value in zip(stats, summed[len(grads):]):
            buffer[...] = value


class SyncLogs(Callback):
    """First of every replica's callbacks: the epoch's training loss and metrics over all the replicas' samples.

    ``fit`` averages them over the samples a replica saw; weighted by those
    counts and summed, they are the averages over the epoch's global batches, so
    the history, the run folder and every callback see the same numbers on
    every replica (and stop at the same epoch).
    """

    def __init__(self, ring, loader):
        self.ring, self.loader = ring, loader

    def on_epoch_end(self, model, epoch, logs):
        keys = sorted(k for k in logs if not k.startswith("val_") and k not in ("lr", "seconds"))
        summed = self.ring.allreduce(np.array([logs[k] * self.loader.samples for k in keys] + [self.loader.samples],
                                              dtype=np.float64))
        logs.update({k: float(v / summed[-1]) for k, v in zip(keys, summed[:-1])})
        return False


class Replica:
    """One rank of data-parallel training; Ray runs it as an actor with two threads (``fit`` and ``receive``).

    Parameters
    ----------
    rank, world : int
    """

    def __init__(self, rank, world):
        self.rank, self.world, self.inbox, self.peer = rank, world, Inbox(), None

    def pid(self):
        """This process's id (tests kill it)."""
        return os.getpid()

    def connect(self, peer):
        """Remember the next rank's actor handle."""
        self.peer = peer

    def receive(self, tag, array):
        """A message from the previous rank."""
        self.inbox.put(tag, array)

    def _send(self, tag, array):
        """Deliver a message to the next rank (asynchronously; it is waited for by tag there)."""
        self.peer.receive.remote(tag, array)

    def fit(self, loader, job, checkpoint=None):
        """Run ``train.fit`` on this rank's share of every batch.

        Parameters
        ----------
        loader : DataLoader
            The global batches (its arrays may be read-only views of the object store).
        job : dict
            ``model``, ``optimizer``, ``scheduler``, ``callbacks`` and the other
            arguments of ``train.fit`` (``run`` and ``verbose`` are rank 0's), as the
            object store hands them over (read-only arrays): copied here.
        checkpoint : bytes, optional
            The checkpoint file to resume from.

        Returns
        -------
        dict
            ``state`` (the model's state dict), ``history``, ``optimizer`` and
            ``scheduler`` states.
        """
        from cnnkit import train

        ring = Ring(self.rank, self.world, self._send, self.inbox)
        job = copy.deepcopy(job)  # every replica trains its own writable copy of the model and optimizer
        model, optimizer, scheduler = job.pop("model"), job["optimizer"], job["scheduler"]
        loader = ShardedLoader(loader, self.rank, self.world)
        job["callbacks"] = [SyncLogs(ring, loader), *job["callbacks"]]
        if self.rank != 0:
            job.update(run=None, verbose=False)
        with tempfile.TemporaryDirectory() as scratch:
            if checkpoint is not None:
                job["resume"] = os.path.join(scratch, "resume.safetensors")
                with open(job["resume"], "wb") as f:
                    f.write(checkpoint)
            history = train.fit(model, loader, gradient_hook=GradientAllReduce(ring, model, loader), **job)
        return {"state": model.state_dict(), "history": history, "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict()}
