"""Batch inference over folders: the face index on one worker and on Ray, reruns, killed workers, search, clusters."""
import os

import numpy as np
import pytest
from PIL import Image

from cnnkit.distributed import batch
from cnnkit.distributed.pipelines import FaceIndexPipeline
from cnnkit.face.align import FIVE_POINT_TEMPLATE
from cnnkit.face.mtcnn import MTCNN_TEMPLATE
from cnnkit.io.shards import ShardFolder

pytest.importorskip("pyarrow")


class StandInDetector:
    """``pixel[0, 0, 0] % 3`` faces per image, side by side, scored by their position; kills itself once if asked."""

    def __init__(self, die_on=None, marker=None):
        self.die_on, self.marker = die_on, marker

    def detect(self, image, min_size=20, thresholds=(0.6, 0.7, 0.7), factor=0.709):
        if self.die_on is not None and image[0, 0, 0] == self.die_on and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        return [{"box": (x + 10.0, 20.0, x + 90.0, 120.0), "score": 0.99 - x / 1000,
                 "landmarks": (0.25 + MTCNN_TEMPLATE) / 1.5 * 100 + [x, 20]}
                for x in (20, 220)[:int(image[0, 0, 0]) % 3]]


class StandInPredictor:
    """The chip template's 5 points spread over the box."""

    def predict(self, image, box):
        left, top, right, bottom = box
        return (0.25 + FIVE_POINT_TEMPLATE) / 1.5 * [right - left, bottom - top] + [left, top]


class StandInNetwork:
    """The descriptor is the chip's mean colour / 100, then zeros."""

    def embed_chips(self, chips):
        chips = np.asarray(chips, dtype=np.float32)
        out = np.zeros(chips.shape[:-3] + (128,), np.float32)
        out[..., :3] = chips.reshape(chips.shape[:-3] + (-1, 3)).mean(axis=-2) / 100
        return out


def pipeline(**detector):
    return FaceIndexPipeline(detector=StandInDetector(**detector), predictor=StandInPredictor(),
                             network=StandInNetwork())


@pytest.fixture
def photos(tmp_path):
    """12 photos in two folders (0, 1 or 2 faces each, coloured by their number) and one broken file."""
    root = tmp_path / "photos"
    for i in range(12):
        folder = root / ("a" if i < 6 else "b/deeper")
        folder.mkdir(parents=True, exist_ok=True)
        image = np.full((140, 320, 3), (i * 7 + 30, 200 - i * 9, 90 + i * 5), np.uint8)
        image[0, 0, 0] = i
        Image.fromarray(image).save(folder / f"{i:02d}.png")
    (root / "a" / "broken.png").write_bytes(b"not a png")
    return str(root)


def rows(out):
    """Every row of an index, sorted by path and score, as one dict of arrays."""
    parts = list(ShardFolder(out).read())
    table = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((-table["score"], table["path"].astype(str)))
    return {k: v[order] for k, v in table.items()}


def test_one_worker_writes_a_row_per_face_and_records_every_image(photos, tmp_path):
    out = str(tmp_path / "faces.parquet")
    with pytest.warns(RuntimeWarning, match="broken.png"):
        report = batch.run(pipeline(), photos, out, batch_size=2, shard_size=4, progress=False)
    table = rows(out)
    assert report["images"] == 13 and report["rows"] == 12 == len(table["path"])   # 4 x 0 + 4 x 1 + 4 x 2 faces
    assert list(report["errors"]) == [os.path.join(photos, "a", "broken.png")]
    assert table["descriptor"].shape == (12, 128) and table["landmarks"].shape == (12, 5, 2)
    assert table["descriptor"].dtype == np.float32
    assert set(ShardFolder(out).sources()) == set(batch.image_files(photos))
    assert report["shards"] == len(ShardFolder(out).files()) == 4


def test_a_rerun_skips_every_image_already_done_and_indexes_only_new_ones(photos, tmp_path):
    out = str(tmp_path / "faces.parquet")
    with pytest.warns(RuntimeWarning):
        batch.run(pipeline(), photos, out, progress=False)
    again = batch.run(pipeline(), photos, out, progress=False)
    assert again["images"] == 0 and again["skipped"] == 13 and again["shards"] == 0
    Image.fromarray(np.full((140, 320, 3), 2, np.uint8)).save(os.path.join(photos, "a", "new.png"))
    more = batch.run(pipeline(), photos, out, progress=False)
    assert more["images"] == 1 and more["rows"] == 2 and len(rows(out)["path"]) == 14


class Interrupted(Exception):
    """Stands for Ctrl-C or a lost driver in the middle of an index."""


class StopAt(StandInDetector):
    """Raises on one image, as an interrupted run stops there."""

    def detect(self, image, *args):
        if image[0, 0, 0] == 9:
            raise Interrupted
        return super().detect(image, *args)


def test_an_interrupted_index_keeps_its_finished_shards_and_a_rerun_completes_it_without_duplicates(photos, tmp_path):
    out, reference = str(tmp_path / "faces.parquet"), str(tmp_path / "reference.parquet")
    stopping = FaceIndexPipeline(detector=StopAt(), predictor=StandInPredictor(), network=StandInNetwork())
    with pytest.raises(Interrupted):
        batch.run(stopping, photos, out, batch_size=2, shard_size=2, progress=False)
    assert 0 < len(ShardFolder(out).sources()) < 13
    with pytest.warns(RuntimeWarning):
        batch.run(pipeline(), photos, out, progress=False)
        batch.run(pipeline(), photos, reference, progress=False)
    for key, value in rows(reference).items():
        np.testing.assert_array_equal(rows(out)[key], value, err_msg=key)


def test_two_ray_workers_write_the_same_rows_and_descriptors_as_one(ray_cluster, photos, tmp_path):
    one, two = str(tmp_path / "one.parquet"), str(tmp_path / "two.parquet")
    with pytest.warns(RuntimeWarning, match="broken.png"):
        batch.run(pipeline(), photos, one, batch_size=3, progress=False)
        report = batch.run(pipeline(), photos, two, workers=2, batch_size=3, progress=False)
    assert report["images"] == 13 and len(report["errors"]) == 1
    for key, value in rows(one).items():
        np.testing.assert_array_equal(rows(two)[key], value, err_msg=key)


def test_a_worker_killed_mid_index_is_replaced_and_no_row_is_missing_or_twice(ray_cluster, photos, tmp_path):
    marker, out, reference = str(tmp_path / "died"), str(tmp_path / "faces.parquet"), str(tmp_path / "ref.parquet")
    with pytest.warns(RuntimeWarning, match="broken.png"):
        report = batch.run(pipeline(die_on=7, marker=marker), photos, out, workers=2, batch_size=2, progress=False)
        batch.run(pipeline(), photos, reference, progress=False)
    assert os.path.exists(marker) and report["images"] == 13
    table = rows(out)
    assert len(set(zip(table["path"], table["score"]))) == len(table["path"])
    for key, value in rows(reference).items():
        np.testing.assert_array_equal(table[key], value, err_msg=key)
