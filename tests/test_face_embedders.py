"""A face embedding trained by cnnkit, used on photos: its checkpoint, its framing of a face, its database."""
import numpy as np
import pytest

from cnnkit import train
from cnnkit.face.database import FaceDatabase
from cnnkit.face.embedders import ATT_FRAMING, TrainedEmbedding, load_embedding
from cnnkit.io import save_state
from cnnkit.models import get_model


def small_embedding(seed=0):
    return get_model("face_embedding", channels=(4, 8), embedding_dim=6, input_size=(12, 10), rng=seed).eval()


def save_embedding(path, model, threshold=0.7):
    """A checkpoint as `cnnkit face train` writes one."""
    train.save(model, str(path), preprocessing={"input_shape": [12, 10, 1]},
               extra={"task": "face_embedding", "threshold": threshold, "framing": ATT_FRAMING})
    return path


def test_the_crop_is_the_att_portrait_around_the_box_resized_to_the_input():
    embedding = TrainedEmbedding(small_embedding(), (12, 10, 1), 0.7, ATT_FRAMING, "test")
    image = np.zeros((200, 200, 3), dtype=np.uint8)
    image[:, :100] = 255                                            # white left half, black right half
    box = (60.0, 60.0, 140.0, 160.0)                                # centred on the boundary: x = 100
    crop = embedding.crop(image, box)
    assert crop.shape == (12, 10, 1) and crop.dtype == np.float32
    # the portrait's centre is 0.024 box widths right of the box's: the left columns white, the right ones black
    np.testing.assert_allclose(crop[:, 0], 1, rtol=1e-6)
    np.testing.assert_array_equal(crop[:, -1], 0)


def test_the_crop_repeats_the_edge_where_the_portrait_leaves_the_photo():
    embedding = TrainedEmbedding(small_embedding(), (12, 10, 1), 0.7, ATT_FRAMING, "test")
    image = np.full((50, 50, 3), (255, 0, 0), dtype=np.uint8)     # pure red: luma 0.299
    crop = embedding.crop(image, (0.0, 0.0, 50.0, 50.0))
    np.testing.assert_allclose(crop, 0.299, rtol=1e-5)


def test_load_embedding_reads_the_threshold_and_input_of_a_checkpoint(tmp_path):
    model = small_embedding()
    embedding = load_embedding(save_embedding(tmp_path / "e.safetensors", model, threshold=0.42))
    assert embedding.threshold == 0.42 and embedding.input_shape == (12, 10, 1) and embedding.dim == 6
    photo = np.random.default_rng(0).integers(0, 256, (120, 100, 3), dtype=np.uint8)
    vector = embedding.embed_face(photo, {"box": (20.0, 20.0, 80.0, 95.0)})
    assert vector.shape == (6,) and np.linalg.norm(vector) == pytest.approx(1, rel=1e-5)


def test_load_embedding_names_each_set_of_weights_apart(tmp_path):
    a = load_embedding(save_embedding(tmp_path / "a.safetensors", small_embedding(0)))
    b = load_embedding(save_embedding(tmp_path / "b.safetensors", small_embedding(1)))
    assert a.name != b.name and a.name.startswith("face_embedding@")


def test_load_embedding_refuses_an_old_face_embedding_file_saying_how_to_retrain(tmp_path):
    model = small_embedding()
    save_state(tmp_path / "old.safetensors", model.state_dict(), {"model": "EmbeddingNet", "channels": "4,8"})
    with pytest.raises(ValueError, match="retrain it with `cnnkit face train`"):
        load_embedding(tmp_path / "old.safetensors")


def test_load_embedding_refuses_a_checkpoint_of_another_task(tmp_path):
    train.save(get_model("lenet5"), str(tmp_path / "lenet.safetensors"))
    with pytest.raises(ValueError, match="not a face embedding"):
        load_embedding(tmp_path / "lenet.safetensors")


def test_a_database_filled_by_an_embedding_holds_its_descriptors_and_refuses_another(tmp_path):
    embedding = load_embedding(save_embedding(tmp_path / "e.safetensors", small_embedding()))
    db = FaceDatabase(tmp_path / "db", network=embedding)
    db.add("ada", np.eye(6, dtype=np.float32)[0])
    reopened = FaceDatabase(tmp_path / "db", network=embedding)
    assert reopened.threshold == 0.7 and reopened.nearest(np.eye(6)[0]) == ("ada", 0.0)
    with pytest.raises(ValueError, match="open it with the embedding that filled it"):
        FaceDatabase(tmp_path / "db")
