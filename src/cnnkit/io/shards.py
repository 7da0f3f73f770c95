"""Tables kept as a folder of Parquet shards, each written once, atomically, with the inputs it covers.

A folder such as ``faces.parquet/`` holds ``part-<id>.parquet`` files, which
pandas, pyarrow, Spark and Ray read as one table. Each shard's schema metadata
lists the input files (``sources``) whose rows it holds, faceless or unreadable
ones included, and the errors met: a rerun skips every source already in a
shard, and a shard is either entirely there or not at all (written to a hidden
temporary file, then renamed), so an interrupted job leaves no half rows.
Columns are 1-D (numbers, strings) or fixed-size float vectors such as
descriptors; a column's per-row shape is kept in its field metadata.
"""
import json
import os
import uuid

import numpy as np

from cnnkit.io.state import atomic_write
from cnnkit.utils import require_extra

_META_KEY = b"cnnkit.shard"
_SHAPE_KEY = b"shape"
_FORMAT = "cnnkit.shard/1"


def _pyarrow():
    """``(pyarrow, pyarrow.parquet)``, or an ImportError saying how to install them."""
    require_extra("pyarrow")
    import pyarrow
    import pyarrow.parquet
    return pyarrow, pyarrow.parquet


def _column(pa, name, values):
    """An Arrow array and field for one column: strings, numbers, or fixed-size lists of a row shape."""
    if values.dtype.kind in "UO":
        return pa.array(values.astype(str).tolist(), pa.string()), pa.field(name, pa.string())
    if values.ndim == 1:
        array = pa.array(values)
        return array, pa.field(name, array.type)
    width = int(np.prod(values.shape[1:]))
    flat = pa.array(np.ascontiguousarray(values).reshape(-1))
    field = pa.field(name, pa.list_(flat.type, width), metadata={_SHAPE_KEY: json.dumps(values.shape[1:])})
    return pa.FixedSizeListArray.from_arrays(flat, width), field


class ShardFolder:
    """A folder of Parquet shards.

    Parameters
    ----------
    path : str
        The folder (conventionally named ``*.parquet``).
    create : bool, default False
        Create it if missing; otherwise a missing folder is a FileNotFoundError.

    Raises
    ------
    ValueError
        When ``path`` is a file, not a folder.
    """

    def __init__(self, path, create=False):
        self.path = os.fspath(path)
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ValueError(f"{self.path} is a file; a shard folder (e.g. index.parquet/) is a folder of parts")
        if create:
            os.makedirs(self.path, exist_ok=True)
        elif not os.path.isdir(self.path):
            raise FileNotFoundError(f"no shard folder at {self.path}")

    def files(self):
        """The shard files, sorted by name."""
        return sorted(os.path.join(self.path, name) for name in os.listdir(self.path)
                      if name.startswith("part-") and name.endswith(".parquet"))

    def _meta(self, path):
        """A shard's own metadata: ``{"format", "sources", "errors"}``."""
        _, pq = _pyarrow()
        try:
            metadata = pq.read_schema(path).metadata or {}
            meta = json.loads(metadata[_META_KEY])
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path} is not a shard written by cnnkit ({type(exc).__name__}: {exc})") from None
        if meta.get("format") != _FORMAT or not isinstance(meta.get("sources"), list):
            raise ValueError(f"{path}: unknown shard format {meta.get('format')!r}")
        return meta

    def sources(self):
        """Every input recorded as done by some shard (a set of str)."""
        return {source for path in self.files() for source in self._meta(path)["sources"]}

    def errors(self):
        """``{source: message}`` of the inputs that failed, over every shard."""
        return {k: v for path in self.files() for k, v in self._meta(path).get("errors", {}).items()}

    def write(self, columns, sources, errors=None):
        """Write one shard holding ``columns`` (name -> array of N rows) and covering ``sources``.

        Parameters
        ----------
        columns : dict of str -> ndarray
            Equal-length columns: strings, numbers, or (N, ...) float arrays.
        sources : sequence of str
            The inputs this shard completes (also those without rows).
        errors : dict of str -> str, optional

        Returns
        -------
        str
            The shard's path.
        """
        pa, pq = _pyarrow()
        arrays, fields = zip(*(_column(pa, name, np.asarray(values)) for name, values in columns.items()))
        meta = {"format": _FORMAT, "sources": list(sources), "errors": dict(errors or {})}
        schema = pa.schema(list(fields), metadata={_META_KEY: json.dumps(meta)})
        table = pa.Table.from_arrays(list(arrays), schema=schema)
        path = os.path.join(self.path, f"part-{uuid.uuid4().hex}.parquet")
        atomic_write(path, lambda f: pq.write_table(table, f))
        return path

    def num_rows(self):
        """The number of rows over every shard (read from the files' footers, not their data)."""
        _, pq = _pyarrow()
        return sum(pq.read_metadata(path).num_rows for path in self.files())

    def read(self, columns=None):
        """Yield each shard as a dict of columns (name -> ndarray, vectors as (N, ...) arrays).

        Parameters
        ----------
        columns : list of str, optional
            Read only these columns.
        """
        _, pq = _pyarrow()
        for path in self.files():
            names = pq.read_schema(path).names
            missing = [name for name in columns or () if name not in names]
            if missing:
                raise ValueError(f"{path} has no column {', '.join(map(repr, missing))}; its columns are {names}")
            table = pq.read_table(path, columns=columns)
            out = {}
            for field, column in zip(table.schema, table.columns):
                shape = (field.metadata or {}).get(_SHAPE_KEY)
                if shape is None:
                    out[field.name] = column.to_numpy()
                else:
                    flat = column.combine_chunks().flatten().to_numpy()
                    out[field.name] = flat.reshape((len(column), *json.loads(shape)))
            yield out
