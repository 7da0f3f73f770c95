"""The face database on disk: locking, re-reading under the lock, and staying inside its folder."""
import json
import multiprocessing

import numpy as np
import pytest

from cnnkit.face.database import FaceDatabase
from cnnkit.io import save_state


def _enroll_many(path, tag, count):
    """Child process: open the database once, then add ``count`` people one at a time."""
    db = FaceDatabase(path)
    for i in range(count):
        db.add(f"{tag}{i}", np.full(128, i, dtype=np.float32))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_concurrent_enrolments_from_two_processes_keep_everyone_and_leave_no_orphan_file(tmp_path):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_enroll_many, args=(tmp_path, tag, 15)) for tag in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    db = FaceDatabase(tmp_path)
    assert db.names() == [f"{tag}{i}" for tag in "ab" for i in range(15)]  # natural order: a2 before a10
    assert len(list(tmp_path.glob("descriptors-*.safetensors"))) == 1


def test_an_instance_opened_earlier_keeps_what_others_added_since(tmp_path):
    first, second = FaceDatabase(tmp_path), FaceDatabase(tmp_path)
    first.add("ada", np.ones(128))
    second.add("bob", np.zeros(128))
    assert second.names() == ["ada", "bob"] and FaceDatabase(tmp_path).names() == ["ada", "bob"]


def test_descriptors_file_outside_the_folder_is_refused_and_never_deleted(tmp_path):
    (tmp_path / "db").mkdir()
    save_state(tmp_path / "victim.safetensors", {"descriptors": np.zeros((1, 128), dtype=np.float32)})
    meta = {"format_version": 1, "model": "dlib-face-resnet", "threshold": 0.6, "names": ["x"],
            "descriptors_file": "../victim.safetensors"}
    (tmp_path / "db" / "faces.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"faces\.json: refusing descriptors_file '\.\./victim\.safetensors'"):
        FaceDatabase(tmp_path / "db")
    assert (tmp_path / "victim.safetensors").exists()


def test_damaged_index_names_the_file(tmp_path):
    (tmp_path / "faces.json").write_text('{"format_version": 1, "names": [')
    with pytest.raises(ValueError, match=r"faces\.json: not a face database index"):
        FaceDatabase(tmp_path)


def test_descriptors_of_the_wrong_shape_name_the_tensor_file(tmp_path):
    db = FaceDatabase(tmp_path)
    db.add("ada", np.ones(128))
    save_state(tmp_path / db._file, {"descriptors": np.zeros((2, 128), dtype=np.float32)})
    with pytest.raises(ValueError, match=r"descriptors-[0-9a-f]{32}\.safetensors: expected a float tensor "
                                         r"'descriptors' of shape \(1, 128\)"):
        FaceDatabase(tmp_path)
