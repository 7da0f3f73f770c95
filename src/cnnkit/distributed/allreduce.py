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
        """The element-wise sum of every rank's ``vector`` (1-D, same length and dtype on every rank).

        Every rank must call it, in the same order; returns a new array.
        """
        vector = np.ascontiguousarray(vector)
        self.calls += 1
        N, r = self.world, self.rank
        if N == 1:
            return vector.copy()
        chunks = [c.copy() for c in np.array_split(vector, N)]
        for step in range(N - 1):   # reduce-scatter
            self.send((self.calls, 0, step), chunks[(r - step) % N])
            index = (r - step - 1) % N
            chunks[index] = self.inbox.take((self.calls, 0, step)) + chunks[index]
        for step in range(N - 1):   # all-gather
            self.send((self.calls, 1, step), chunks[(r + 1 - step) % N])
            index = (r - step) % N
            chunks[index] = np.array(self.inbox.take((self.calls, 1, step)))
        return np.concatenate(chunks)


def flatten(arrays, dtype):
    """One 1-D ``dtype`` vector holding every array of ``arrays``, in order."""
    if not arrays:
        return np.zeros(0, dtype)
    return np.concatenate([np.asarray(a, dtype=dtype).ravel() for a in arrays])


def unflatten(vector, like):
    """Split ``vector`` back into arrays of the shapes and dtypes of ``like``."""
    out, start = [], 0
    for a in like:
        out.append(vector[start:start + a.size].reshape(a.shape).astype(a.dtype, copy=False))
        start += a.size
    return out
