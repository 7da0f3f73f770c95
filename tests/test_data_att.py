"""The AT&T faces shipped with the package: the loader and the split by person."""
import numpy as np
import pytest

from cnnkit import data
from cnnkit.data import ImageError, load_att_faces, split_people


def _write_pgm(path, pixels):
    """A binary PGM of ``pixels`` (uint8), with a comment in its header."""
    H, W = pixels.shape
    path.write_bytes(f"P5\n# made by a test\n{W} {H}\n255\n".encode() + pixels.astype(np.uint8).tobytes())


def _write_database(root):
    """A fake AT&T folder: person p, image n is a constant 6 p + n, except s3/2.pgm (random)."""
    for person in range(1, 41):
        (root / f"s{person}").mkdir()
        for number in range(1, 11):
            _write_pgm(root / f"s{person}" / f"{number}.pgm", np.full((112, 92), person * 6 + number, np.uint8))
    random = np.random.default_rng(0).integers(0, 256, (112, 92))
    _write_pgm(root / "s3" / "2.pgm", random)
    return random


def test_load_att_faces_reads_s1_to_s40_scaled_to_unit_range(tmp_path):
    random = _write_database(tmp_path)
    faces = load_att_faces(tmp_path)
    assert faces.images.shape == (400, 112, 92, 1) and faces.images.dtype == np.float32
    np.testing.assert_array_equal(faces.labels, np.repeat(np.arange(40), 10))
    assert faces.class_names[0] == "s1" and faces.class_names[-1] == "s40"
    assert faces.images[0, 0, 0, 0] == np.float32(7 / 255)
    np.testing.assert_array_equal(np.rint(faces.images[21, ..., 0] * 255), random)


def test_load_att_faces_names_the_missing_image(tmp_path):
    (tmp_path / "s1").mkdir()
    with pytest.raises(FileNotFoundError, match="1.pgm"):
        load_att_faces(tmp_path)


def test_load_att_faces_names_a_truncated_image(tmp_path):
    _write_database(tmp_path)
    (tmp_path / "s7" / "4.pgm").write_bytes(b"P5\n92 112\n255\n" + bytes(50))
    with pytest.raises(ImageError, match="s7/4.pgm"):
        load_att_faces(tmp_path)


def test_the_shipped_database_loads_from_any_folder_without_configuration(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    faces = load_att_faces()
    assert faces.images.shape == (400, 112, 92, 1) and 0 <= faces.images.min() and faces.images.max() <= 1
    assert np.bincount(faces.labels).tolist() == [10] * 40
    assert len({image.tobytes() for image in faces.images}) == 400


def test_the_shipped_database_carries_its_acknowledgement():
    readme = (data.ATT_FACES_DIR / "README.md").read_text(encoding="utf-8")
    assert "AT&T Laboratories Cambridge" in readme and "Samaria" in readme


def test_split_people_holds_out_whole_people_reproducibly():
    labels = np.repeat(np.arange(40), 10)
    train, held_out = split_people(labels, n_eval=10, seed=0)
    assert len(train) == 30 and len(held_out) == 10
    assert np.intersect1d(train, held_out).size == 0
    np.testing.assert_array_equal(np.union1d(train, held_out), np.arange(40))
    np.testing.assert_array_equal(split_people(labels, 10, seed=0)[1], held_out)
