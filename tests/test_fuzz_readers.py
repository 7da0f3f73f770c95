"""Every file reader under a bounded, seeded mutation fuzz: a mutant loads or gives a ValueError naming it.

The mutants that once escaped as another error are kept in tests/data/fuzz/ and read
again here; see fuzzing.py for the mutations.
"""
import os
from pathlib import Path

import pytest

import fuzzing

pytest.importorskip("h5py")
pytest.importorskip("lz4")
pytest.importorskip("joblib")

# Cases per reader: about 2,000 in all, a few seconds; HDF5 is parsed by C code and slower per case.
CASES = {"keras hdf5": 60, "image folder": 150, "yolo folder": 150}
DEFAULT_CASES = 250
CRASHERS = Path(__file__).parent / "data" / "fuzz"


@pytest.mark.parametrize("name", sorted(fuzzing.readers()))
def test_mutated_files_load_or_raise_a_value_error_naming_the_file(name, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "home"))
    reader = fuzzing.readers()[name]
    outcomes = fuzzing.fuzz(name, reader, tmp_path / "case", CASES.get(name, DEFAULT_CASES), keep=tmp_path / "kept")
    assert set(outcomes) <= {fuzzing.LOADED, fuzzing.CLEAR}, (dict(outcomes), sorted(os.listdir(tmp_path / "kept")))
    assert outcomes[fuzzing.CLEAR] > outcomes[fuzzing.LOADED]  # the mutations do reach the checks


def _crashers():
    """(reader name, kept file) for every file in tests/data/fuzz/<reader, spaces written _>/."""
    if not CRASHERS.is_dir():
        return []
    return [(folder.name.replace("_", " "), file) for folder in sorted(CRASHERS.iterdir()) if folder.is_dir()
            for file in sorted(folder.iterdir())]


@pytest.mark.parametrize("name, crasher", _crashers(), ids=lambda value: getattr(value, "name", value))
def test_kept_crashers_raise_a_value_error_naming_the_file(name, crasher, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "home"))
    reader = fuzzing.readers()[name]
    target = crasher.name.split("-", 1)[1].replace("__", "/")  # <case>-<seed file>
    for file, content in reader.seeds().items():
        path = tmp_path / "case" / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(crasher.read_bytes() if file == target else content)
    with pytest.raises(ValueError) as error:
        reader.read(tmp_path / "case", target)
    assert Path(target).name in str(error.value)
