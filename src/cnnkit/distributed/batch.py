"""Batch inference over folders of images: one code path, in this process or on a Ray Data actor pool.

A *pipeline* turns a list of image paths into rows (``pipelines.py`` has the
face index, classification and detection ones). :func:`run` lists the images,
skips those an earlier run already wrote, and streams the rest through the
pipeline in batches: in this process with one worker, or with ``workers`` Ray
actors, each loading the pipeline's models once, through Ray Data's
``map_batches`` (streaming with backpressure: memory stays flat whatever the
folder's size). Every batch comes back to this process, which alone writes the
shards (:class:`cnnkit.io.shards.ShardFolder`): a batch is written once or not
at all, so a worker that dies (Ray Data restarts it and retries its batch) or a
run that is killed (rerun it) leaves neither missing nor duplicate rows.
"""
import contextlib
import os
import warnings

import numpy as np

from cnnkit.data.images import IMAGE_EXTENSIONS
from cnnkit.distributed.cluster import check_workers, session
from cnnkit.io.shards import ShardFolder
from cnnkit.train.history import ProgressBar
from cnnkit.utils import natural_sorted

# the columns every encoded batch carries besides the pipeline's: one record per input image
_IMAGE, _ERROR = "_image", "_error"


def image_files(sources):
    """Every image file under the given folders (recursively) and the files given, each once, sorted naturally.

    Parameters
    ----------
    sources : str or sequence of str
        Folders and image files.

    Returns
    -------
    list of str

    Raises
    ------
    FileNotFoundError
        For a source that does not exist.
    """
    found = set()
    for source in [sources] if isinstance(sources, (str, os.PathLike)) else sources:
        source = os.fspath(source)
        if os.path.isdir(source):
            found.update(os.path.join(root, name) for root, _, names in os.walk(source) for name in names
                         if name.lower().endswith(IMAGE_EXTENSIONS))
        elif os.path.isfile(source):
            found.add(source)
        else:
            raise FileNotFoundError(f"no image or folder at {source}")
    return natural_sorted(found)


def _zeros(columns, n=0):
    """``n`` zero rows of each column, with its dtype and row shape."""
    return {name: np.zeros((n, *shape), dtype=dtype) for name, (dtype, shape) in columns.items()}


def encode(pipeline, paths):
    """Run ``pipeline`` on ``paths``; its rows plus one record per image (``_image``, ``_error``), as one batch.

    What a worker sends back: flat columns of equal length, so Ray Data can
    carry them; :func:`decode` splits them again.
    """
    rows, errors = pipeline(list(paths))
    n = len(next(iter(rows.values()))) if rows else 0
    records = _zeros(pipeline.columns, len(paths))
    records["path"] = np.asarray(paths, dtype=str)
    batch = {name: np.concatenate([np.asarray(rows[name]), records[name]]) if n else records[name]
             for name in pipeline.columns}
    batch[_IMAGE] = np.arange(n + len(paths)) >= n
    batch[_ERROR] = np.asarray([""] * n + [errors.get(p, "") for p in paths], dtype=object)
    return batch


def decode(batch):
    """``(rows, sources, errors)`` of a batch made by :func:`encode`."""
    is_image = np.asarray(batch[_IMAGE], dtype=bool)
    rows = {k: np.asarray(v)[~is_image] for k, v in batch.items() if k not in (_IMAGE, _ERROR)}
    sources = [str(p) for p in np.asarray(batch["path"])[is_image]]
    errors = {p: str(e) for p, e in zip(sources, np.asarray(batch[_ERROR])[is_image]) if e}
    return rows, sources, errors


class _Worker:
    """What each Ray Data actor runs: the pipeline's models loaded once, then batch after batch."""

    def __init__(self, pipeline):
        pipeline.setup()
        self.pipeline = pipeline

    def __call__(self, batch):
        return encode(self.pipeline, [str(p) for p in batch["path"]])


class _Shards:
    """Collects decoded batches and writes a shard every ``shard_size`` images."""

    def __init__(self, folder, columns, shard_size):
        self.folder, self.columns, self.shard_size = folder, columns, shard_size
        self.parts, self.sources, self.errors, self.rows, self.written = [], [], {}, 0, 0

    def add(self, rows, sources, errors):
        self.parts.append(rows)
        self.sources += sources
        self.errors.update(errors)
        self.rows += len(rows["path"])
        if len(self.sources) >= self.shard_size:
            self.flush()

    def flush(self):
        if not self.sources:
            return
        parts = self.parts or [_zeros(self.columns)]
        columns = {name: np.concatenate([p[name] for p in parts]).astype(dtype, copy=False)
                   for name, (dtype, _) in self.columns.items()}
        self.folder.write(columns, self.sources, self.errors)
        self.parts, self.sources, self.errors, self.written = [], [], {}, self.written + 1


def run(pipeline, sources, out, *, workers=1, address=None, batch_size=16, shard_size=1024, progress=True,
        name="images"):
    """Run ``pipeline`` over every image under ``sources`` not yet in ``out``; write its rows there as shards.

    Parameters
    ----------
    pipeline : object
        Has ``columns`` (name -> (dtype, row shape), ``"path"`` first),
        ``setup()`` (loads its models; called once per worker) and
        ``__call__(paths) -> (rows, errors)``: a dict of columns and a dict
        path -> message of the images it could not read. Picklable (it travels
        to the workers before ``setup``).
    sources : str or sequence of str
        Folders (searched recursively) and image files.
    out : str
        The shard folder (``*.parquet``); created if missing. Images already
        recorded there are skipped.
    workers : int, default 1
        1: in this process, without Ray. More: a Ray Data pool of that many actors.
    address : str, optional
        A Ray cluster to join (then even one worker runs there).
    batch_size : int, default 16
        Images per batch handed to a worker.
    shard_size : int, default 1024
        Images per shard written (a killed run redoes at most that many).
    progress : bool, default True
        A progress bar counting images, on stderr.
    name : str
        What the bar calls the job.

    Returns
    -------
    dict
        ``images`` (processed now), ``skipped`` (done before), ``rows``
        (written now), ``errors`` (path -> message, this run), ``shards`` (written now).
    """
    check_workers(workers)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard_size must be an int >= 1, got {shard_size!r}")
    paths = image_files(sources)
    folder = ShardFolder(out, create=True)
    done = folder.sources()
    todo = [p for p in paths if p not in done]
    shards = _Shards(folder, pipeline.columns, shard_size)
    bar = ProgressBar(len(todo), name) if progress and todo else None
    errors = {}
    with contextlib.ExitStack() as stack:
        stack.callback(shards.flush)  # batches already back are kept, even when the run stops on an error
        if not todo:
            batches = iter(())
        elif workers == 1 and address is None:
            batches = _local(pipeline, todo, batch_size)
        else:
            batches = _stream(stack.enter_context(session(workers, address)), pipeline, todo, batch_size, workers)
        for batch in batches:
            rows, batch_sources, batch_errors = decode(batch)
            shards.add(rows, batch_sources, batch_errors)
            errors.update(batch_errors)
            if bar:
                bar.update(len(batch_sources), rows=shards.rows)
    if bar:
        bar.close()
    for path, message in list(errors.items())[:5]:
        warnings.warn(f"skipped {path}: {message}", RuntimeWarning, stacklevel=2)
    return {"images": len(todo), "skipped": len(paths) - len(todo), "rows": shards.rows, "errors": errors,
            "shards": shards.written}


def _local(pipeline, todo, batch_size):
    """The batches of the one-worker run: the same encoding as on Ray, in this process."""
    pipeline.setup()
    for start in range(0, len(todo), batch_size):
        yield encode(pipeline, todo[start:start + batch_size])


def _stream(ray, pipeline, todo, batch_size, workers):
    """Encoded batches from ``workers`` actors running :class:`_Worker` over ``todo``, as they finish."""
    import pyarrow
    from ray import data as ray_data

    context = ray_data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    table = pyarrow.table({"path": todo})
    blocks = [table.slice(start, batch_size) for start in range(0, len(todo), batch_size)]
    dataset = ray_data.from_arrow(blocks).map_batches(
        _Worker, fn_constructor_args=(pipeline,), batch_size=batch_size, concurrency=workers, num_cpus=1,
        batch_format="numpy")
    yield from dataset.iter_batches(batch_size=None, batch_format="numpy")
