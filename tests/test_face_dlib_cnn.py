"""dlib's CNN face detector pipeline against dlib-bin, with random networks written in dlib's format (no weights needed)."""
import numpy as np
import pytest

from cnnkit.face.dlib_cnn import CNNFaceDetector, tiled_pyramid_rects
from cnnkit.io.dlib_dat import MMOD_HUMAN_FACE_DETECTOR, load_dlib_dnn
from cnnkit.models import get_model
from test_io_dlib_dat import _EMPTY, _affine, _con, _float, _int, _str, _tensor

# (in, out, kernel, stride, padding) of the seven convolutions of dlib's face detector.
LAYERS = ((3, 16, 5, 2, 0), (16, 32, 5, 2, 0), (32, 32, 5, 2, 0), (32, 45, 5, 1, 2), (45, 45, 5, 1, 2),
          (45, 45, 5, 1, 2), (45, 1, 9, 1, 4))


def _batch_norm(gamma, beta, mean, var, eps=1e-5):
    """A bn_con2 record (dlib folds it into an affine layer when it reads the file)."""
    k = len(gamma)
    column = (1, k, 1, 1)
    return (_str("bn_con2") + _tensor(np.concatenate([gamma, beta]).reshape(-1, 1, 1, 1)) + _int(1)
            + b"".join(_int(n) for n in column) + _int(1) + b"".join(_int(n) for n in column)
            + _tensor(np.zeros(column)) + _tensor(np.zeros(column)) + _tensor(mean.reshape(column))
            + _tensor(var.reshape(column)) + _int(0) + _int(1000) + _float(1) + _float(1) + _float(1) + _float(0)
            + _float(eps))


def mmod_dat(seed, score_bias, iou=0.34, batch_norm=False):
    """dlib's mmod_human_face_detector layout with random weights, serialized as dlib writes it."""
    rng = np.random.default_rng(seed)
    records = []
    for i, (c_in, c_out, k, stride, padding) in enumerate(LAYERS):
        w = rng.normal(0, np.sqrt(2 / (k * k * c_in)), (c_out, c_in, k, k)).astype(np.float32)
        b = (np.full(c_out, score_bias) if i == 6 else rng.normal(0, 0.1, c_out)).astype(np.float32)
        records.append(_con(w, b, stride, padding))
        if i < 6:
            gamma, beta = rng.uniform(0.5, 1.5, c_out).astype(np.float32), rng.normal(0, 0.1, c_out).astype(np.float32)
            if batch_norm and i == 1:
                records.append(_batch_norm(gamma, beta, rng.normal(0, 0.1, c_out).astype(np.float32),
                                           rng.uniform(0.5, 2, c_out).astype(np.float32)))
            else:
                records.append(_affine(gamma, beta))
            records.append(_str("relu_"))
    # mmod_options version 1: one 80x80 window, losses, truth-match IoU, the NMS and ignore testers.
    loss = _str("loss_mmod_") + _int(1) + _int(80) + _int(80) + b"".join(_float(v) for v in (1, 1, 0.5, iou, 1, 0.5, 1))
    out = _int(1) + loss + b"".join(_int(3 if i == 0 else 2) for i in reversed(range(len(records))))
    out += _str("input_rgb_image_pyramid") + b"".join(_float(a) for a in (122.782, 117.001, 104.298))
    for index, record in enumerate(records):
        out += record + b"100" + _EMPTY + _EMPTY
        out += _EMPTY + _int(1) if index == 0 else _EMPTY
    return out


def detectors(tmp_path, **kwargs):
    """(ours, dlib-bin's) detectors built from one random model file."""
    dlib = pytest.importorskip("dlib")
    path = tmp_path / "mmod.dat"
    path.write_bytes(mmod_dat(**kwargs))
    state, info = load_dlib_dnn(path, MMOD_HUMAN_FACE_DETECTOR)
    model = get_model("dlib_mmod")
    model.load_state_dict(state)
    return CNNFaceDetector(model.eval(), info), dlib.cnn_face_detection_model_v1(str(path))


def picture(height, width, seed=0):
    """Smooth random colours (blobs a random detector scores unevenly)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2, 3)).astype(np.float32)
    return np.repeat(np.repeat(small, 8, 0), 8, 1)[:height, :width].astype(np.uint8)


def as_tuples(dets):
    return [((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), d.confidence) for d in dets]


def assert_same(ours, theirs):
    assert [box for box, _ in ours] == [box for box, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-4)


@pytest.mark.parametrize("upsample", [0, 1])
def test_windows_and_scores_equal_dlibs(tmp_path, upsample):
    ours, theirs = detectors(tmp_path, seed=1, score_bias=0.2)
    image = picture(90, 120)
    expected = as_tuples(theirs(image, upsample))
    assert len(expected) > 3
    assert_same(ours.detect(image, upsample), expected)


def test_a_batch_equals_dlibs_batch(tmp_path):
    ours, theirs = detectors(tmp_path, seed=2, score_bias=0.1)
    images = [picture(70, 96, seed) for seed in range(3)]
    for mine, dlibs in zip(ours.detect(images, 0, batch_size=2), theirs(images, 0, batch_size=2)):
        assert_same(mine, as_tuples(dlibs))


def test_batch_norm_layers_are_folded_as_dlib_folds_them(tmp_path):
    ours, theirs = detectors(tmp_path, seed=3, score_bias=0.2, batch_norm=True)
    image = picture(80, 100, seed=5)
    assert_same(ours.detect(image), as_tuples(theirs(image)))


def test_grey_images_are_read_as_rgb(tmp_path):
    ours, theirs = detectors(tmp_path, seed=1, score_bias=0.2)
    grey = picture(90, 120)[..., 0].copy()
    assert_same(ours.detect(grey), as_tuples(theirs(grey)))


def test_the_pyramid_tiles_stack_below_then_right_aligned_upwards():
    rects, shape = tiled_pyramid_rects(100, 200)
    assert shape == (418, 222) and rects[0] == (11, 11, 210, 110)
    assert [bottom - top + 1 for _, top, _, bottom in rects[:4]] == [100, 83, 69, 57]     # 5/6 each, floored
    below, beside = rects[:5], rects[5:]
    assert all(left == 11 for left, _, _, _ in below) and [t for _, t, _, _ in below][1:3] == [121, 214]
    assert all(right == 210 for _, _, right, _ in beside)
    assert all(b[3] + 11 == a[1] for a, b in zip(beside, beside[1:]))                   # upwards, 10 rows apart
    assert rects[-1][3] - rects[-1][1] + 1 == 5                                         # down to 5 rows


def test_score_positions_map_to_input_pixels_eight_apart():
    ys, xs = get_model("dlib_mmod").output_to_input([0, 1, 10], [0, 2, 3])
    np.testing.assert_array_equal(ys, [14, 22, 94])
    np.testing.assert_array_equal(xs, [14, 30, 38])


def test_images_of_different_sizes_in_one_batch_are_refused(tmp_path):
    ours, _ = detectors(tmp_path, seed=1, score_bias=0.2)
    with pytest.raises(ValueError, match="one size"):
        ours.detect([picture(40, 40), picture(40, 48)])
