"""dlib-style alignment: similarity transform, chip geometry, pyramid and bilinear sampling."""
import math

import numpy as np
import pytest

from cnnkit.face.align import (FIVE_POINT_TEMPLATE, ChipDetails, align_face, extract_chip, face_chip_details,
                               pyramid_down, similarity_transform)

rng = np.random.default_rng(0)


def rotation(angle):
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


def chip_template(size=150, padding=0.25):
    return (padding + FIVE_POINT_TEMPLATE) / (2 * padding + 1) * size


def test_similarity_transform_recovers_scale_rotation_and_translation():
    src = rng.standard_normal((5, 2)) * 10
    A, t = 2.5 * rotation(0.3), np.array([4.0, -7.0])
    A_fit, t_fit = similarity_transform(src, src @ A.T + t)
    np.testing.assert_allclose(A_fit, A, atol=1e-12)
    np.testing.assert_allclose(t_fit, t, atol=1e-11)


def test_similarity_transform_never_reflects():
    src = rng.standard_normal((5, 2))
    A, _ = similarity_transform(src, src * [-1, 1])
    assert np.linalg.det(A) > 0


def test_chip_details_of_the_template_itself_is_the_chip_square_centred_at_75():
    # dlib centres the rectangle on the transformed (size/2, size/2), half a pixel off the pixel grid.
    details = face_chip_details(chip_template())
    np.testing.assert_allclose(details.rect, (0.5, 0.5, 149.5, 149.5), atol=1e-9)
    assert details.angle == pytest.approx(0, abs=1e-12)


def test_chip_details_follow_a_rotated_and_scaled_face():
    landmarks = (chip_template() - 75) @ (2 * rotation(0.4)).T + [300, 200]
    details = face_chip_details(landmarks)
    left, top, right, bottom = details.rect
    assert details.angle == pytest.approx(0.4)
    assert ((left + right) / 2, (top + bottom) / 2) == pytest.approx((300, 200))
    assert right - left + 1 == pytest.approx(300)


def test_chip_details_reject_landmarks_other_than_5_or_68():
    with pytest.raises(ValueError, match=r"5 or 68 .* got \(6, 2\)"):
        face_chip_details(np.zeros((6, 2)))


def test_unrotated_unscaled_chip_is_a_copy_with_zeros_outside():
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    chip = extract_chip(image, ChipDetails(rect=(30, -5, 59, 24), angle=0.0, size=30))
    np.testing.assert_array_equal(chip[5:, :20], image[:25, 30:])
    assert not chip[:5].any() and not chip[:, 20:].any()


def test_chip_samples_bilinearly_and_truncates():
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    image[:, 3] = 10
    image[:, 4] = 15
    # A 3x3 chip sampling image columns 3.5, 4 and 4.5.
    chip = extract_chip(image, ChipDetails(rect=(3.5, 2.0, 4.5, 3.0), angle=0.0, size=3))
    assert list(chip[0, :, 0]) == [12, 15, 7]  # 12.5 and 7.5 truncated, as dlib does


def test_chip_pixels_whose_neighbours_leave_the_image_are_zero():
    image = np.full((20, 20, 3), 200, dtype=np.uint8)
    chip = extract_chip(image, ChipDetails(rect=(10.5, 10.5, 20.5, 20.5), angle=0.0, size=11))
    assert chip[0, 0, 0] == 200
    assert not chip[-1].any() and not chip[:, -1].any()


def test_pyramid_down_is_dlibs_integer_binomial_filter():
    image = rng.integers(0, 256, (13, 11, 3), dtype=np.uint8)
    k = np.array([1, 4, 6, 4, 1])
    expected = np.zeros((5, 4, 3), dtype=np.int64)
    for r in range(5):
        for c in range(4):
            window = image[2 * r:2 * r + 5, 2 * c:2 * c + 5].astype(np.int64)
            expected[r, c] = np.einsum("i,j,ijc->c", k, k, window) // 256
    np.testing.assert_array_equal(pyramid_down(image), expected)


def test_pyramid_down_keeps_a_constant_image():
    assert (pyramid_down(np.full((20, 30, 3), 77, dtype=np.uint8)) == 77).all()


def test_a_face_over_twice_the_chip_size_is_sampled_from_a_smoothed_pyramid_level():
    # Stripes of period 2 px seen at 1/3.7 scale: sampling the original bilinearly would alias
    # to a pattern spanning 0..255; sampling a pyramid level gives their mean.
    image = np.zeros((800, 800, 3), dtype=np.uint8)
    image[:, ::2] = 255
    chip = align_face(image, (chip_template() - 75) * 3.7 + [400, 400])
    centre = chip[20:130, 20:130].astype(float)
    assert abs(centre.mean() - 127.5) < 3
    assert centre.std() < 3


def test_align_face_rejects_a_grey_image():
    with pytest.raises(ValueError, match=r"\(20, 20\)"):
        align_face(np.zeros((20, 20), dtype=np.uint8), chip_template())
