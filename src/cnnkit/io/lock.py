"""One advisory file lock for the files several processes share: the weights index and face databases."""
import contextlib
import os

try:
    import fcntl
except ImportError:  # Windows: no fcntl; writes stay atomic, but concurrent updates are not serialised
    fcntl = None

__all__ = ["file_lock"]


@contextlib.contextmanager
def file_lock(path):
    """Hold an exclusive ``fcntl.flock`` on ``path`` (created if missing) for the ``with`` block.

    Processes that take the same lock run their blocks one at a time; the lock is
    released when the block ends or the process dies. Read a shared file again
    inside the block before changing it, so that no other writer's update is lost.
    """
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
