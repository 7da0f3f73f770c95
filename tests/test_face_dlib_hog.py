"""dlib's HOG detector pipeline against dlib-bin, with random detectors written in dlib's format (no weights needed)."""
import numpy as np
import pytest

from cnnkit.face.dlib_hog import HOGFaceDetector
from cnnkit.io.dlib_fhog_detector import load_dlib_fhog_detector
from test_io_dlib_fhog_detector import detector_bytes

rng = np.random.default_rng(0)


def random_weights(rank, count=2, scale=0.01):
    """Filter banks whose 10x10 planes have the given rank (dlib runs rank-1 filters when that is cheaper)."""
    weights = np.zeros((count, 3101))
    for d in range(count):
        for i in range(31):
            u, v = rng.normal(size=(10, rank)), rng.normal(size=(10, rank))
            weights[d, i * 100:(i + 1) * 100] = scale * (u @ v.T).ravel()
    weights[:, -1] = rng.normal(0, 0.05, count)
    return weights.astype(np.float32).astype(np.float64)


def detectors(tmp_path, weights):
    """(ours, dlib-bin's) from one serialized detector."""
    dlib = pytest.importorskip("dlib")
    data = detector_bytes(weights)
    (tmp_path / "det.svm").write_bytes(data)
    return HOGFaceDetector(*load_dlib_fhog_detector(data)), dlib.fhog_object_detector(str(tmp_path / "det.svm"))


def run_dlib(detector, image, upsample, adjust=0.0):
    rects, scores, indices = detector.run(image, upsample, adjust)
    return [((r.left(), r.top(), r.right(), r.bottom()), s, i) for r, s, i in zip(rects, scores, indices)]


def assert_same(ours, theirs):
    assert [(box, d) for box, _, d in ours] == [(box, d) for box, _, d in theirs]
    np.testing.assert_allclose([s for _, s, _ in ours], [s for _, s, _ in theirs], atol=1e-5)


@pytest.mark.parametrize("rank", [1, 10])
@pytest.mark.parametrize("upsample", [0, 1])
def test_boxes_are_dlibs_and_scores_within_1e_5(tmp_path, rank, upsample):
    ours, theirs = detectors(tmp_path, random_weights(rank))
    image = rng.integers(0, 256, (150, 190, 3), dtype=np.uint8)
    expected = run_dlib(theirs, image, upsample)
    assert len(expected) > 5
    assert_same(ours.detect(image, upsample), expected)


def test_a_lower_threshold_finds_the_same_extra_windows(tmp_path):
    ours, theirs = detectors(tmp_path, random_weights(2))
    image = rng.integers(0, 256, (120, 140, 3), dtype=np.uint8)
    assert_same(ours.detect(image, 0, adjust_threshold=-0.3), run_dlib(theirs, image, 0, -0.3))


def test_grey_images_are_scanned_as_dlib_scans_them(tmp_path):
    ours, theirs = detectors(tmp_path, random_weights(1))
    grey = rng.integers(0, 256, (130, 170), dtype=np.uint8)
    assert_same(ours.detect(grey, 1), run_dlib(theirs, grey, 1))


def test_threads_do_not_change_the_detections(tmp_path):
    ours, _ = detectors(tmp_path, random_weights(1))
    image = rng.integers(0, 256, (200, 160, 3), dtype=np.uint8)
    assert ours.detect(image, 1, threads=1) == ours.detect(image, 1, threads=3)


def test_small_images_give_dlibs_few_windows_or_none(tmp_path):
    ours, theirs = detectors(tmp_path, random_weights(1))
    for size in (30, 16):
        image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        assert_same(ours.detect(image, 0, -1.0), run_dlib(theirs, image, 0, -1.0))
    assert ours.detect(np.zeros((16, 16, 3), dtype=np.uint8), 0, -1.0) == []


def test_bad_arguments_are_refused(tmp_path):
    ours, _ = detectors(tmp_path, random_weights(1))
    with pytest.raises(ValueError, match="upsample must be a non-negative integer"):
        ours.detect(np.zeros((90, 90, 3), dtype=np.uint8), upsample=-1)
    with pytest.raises(ValueError, match=r"uint8 RGB .* got shape \(90, 90, 3\) and dtype float64"):
        ours.detect(np.zeros((90, 90, 3)))
