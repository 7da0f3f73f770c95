"""A ring all-reduce between Ray actors through the object store: no PyTorch, no gloo.

Each of N ranks splits the vector into N chunks. In N - 1 *reduce-scatter*
steps every rank sends one chunk to the next rank on the ring and adds the
chunk it receives from the previous one; after them rank r holds the complete
sum of chunk (r + 1) mod N. In N - 1 *all-gather* steps those sums travel
round the ring, replacing the partial chunks. Every rank sends and receives
2 (N - 1) / N of the vector in 2 (N - 1) messages: the bandwidth-optimal
schedule (Patarasuk and Yuan 2009; Baidu brought it to deep learning in 2017).
Chunks go as arguments of actor calls, so Ray moves those over ~100 KB through
its object store (shared memory on one node, its transfer service between
nodes). Each chunk's sum is computed on one rank and then copied, so every rank
ends with the same bits, and the order of the additions is fixed by the ranks:
the same ranks give the same result every time.
"""
import threading

import numpy as np


class Inbox:
    """Messages delivered to a rank by its ring neighbour, waited for by tag."""

    def __init__(self):
        self._messages, self._arrived = {}, threading.Condition()

    def put(self, tag, array):
        """Deliver ``array`` under ``tag`` (called by the actor's receiving thread)."""
        with self._arrived:
            self._messages[tag] = array
            self._arrived.notify_all()

    def take(self, tag):
        """Wait for the message ``tag`` and remove it."""
        with self._arrived:
            self._arrived.wait_for(lambda: tag in self._messages)
            return self._messages.pop(tag)


class Ring:
    """One rank's end of a ring all-reduce.

    Parameters
    ----------
    rank, world : int
        This rank and the number of ranks.
    send : callable
        ``send(tag, array)`` delivers to rank ``(rank + 1) % world``'s inbox.
    inbox : Inbox
        Where the previous rank's messages arrive.
    """

    def __init__(self, rank, world, send, inbox):
        self.rank, self.world, self.send, self.inbox, self.calls = rank, world, send, inbox, 0

    def allreduce(self, vector):
        """Replace ``vector`` by the element-wise sum of every rank's ``vector``, in place, and return it.

        ``vector`` is 1-D and contiguous, of the same length and dtype on every
        rank. Every rank must call it, in the same order. Working in place
        matters: fresh arrays of a large model's size cost page faults at every step.
        """
        if vector.ndim != 1 or not vector.flags.c_contiguous:
            raise ValueError(f"allreduce needs a contiguous 1-D vector, got shape {vector.shape}")
        self.calls += 1
        N, r = self.world, self.rank
        chunks = np.array_split(vector, N)   # views: sends copy them out, receives land in them
        for step in range(N - 1):   # reduce-scatter
            self.send((self.calls, 0, step), chunks[(r - step) % N])
            index = (r - step - 1) % N
            np.add(self.inbox.take((self.calls, 0, step)), chunks[index], out=chunks[index])
        for step in range(N - 1):   # all-gather
            self.send((self.calls, 1, step), chunks[(r + 1 - step) % N])
            chunks[(r - step) % N][...] = self.inbox.take((self.calls, 1, step))
        return vector


class FlatBuffer:
    """One reusable vector holding many arrays back to back (gradients, statistics) for one all-reduce."""

    def __init__(self):
        self.vector = None

    def fill(self, arrays, scales, dtype):
        """Copy ``arrays[i] * scales[i]`` into the vector (made on first use, reused after); return it."""
        size = sum(a.size for a in arrays)
        if self.vector is None or self.vector.size != size or self.vector.dtype != dtype:
            self.vector = np.empty(size, dtype)
        start = 0
        for a, scale in zip(arrays, scales):
            np.multiply(a.reshape(-1), dtype.type(scale), out=self.vector[start:start + a.size])
            start += a.size
        return self.vector

    def split(self, like):
        """Views of the vector with the shapes of ``like``, in order."""
        out, start = [], 0
        for a in like:
            out.append(self.vector[start:start + a.size].reshape(a.shape))
            start += a.size
        return out
