"""Does a picture look like the training data: border brightness, polarity, colour and aspect ratio."""
import numpy as np
import pytest

from cnnkit.data.checks import border_mean, compare_with_training, training_statistics

DIGITS = {"input_shape": [32, 32, 1], "border_mean": 0.0, "source_shape": [8, 8, 1], "mean": [0.3], "std": [0.3]}


def digit(light_on_dark=True):
    """A 32x32 RGB 'digit': a bar in the middle, light on dark or dark on light."""
    image = np.zeros((32, 32, 3), np.float32)
    image[8:24, 14:18] = 1.0
    return image if light_on_dark else 1 - image


def test_border_mean_reads_only_the_outer_ring():
    image = np.zeros((32, 32, 1), np.float32)
    image[2:30, 2:30] = 1.0  # the ring is 32 // 16 = 2 pixels wide
    assert border_mean(image) == 0.0 and border_mean(1 - image) == 1.0


def test_training_statistics_keep_the_border_and_the_source_shape():
    source = np.zeros((5, 8, 8, 1), np.float32)
    stats = training_statistics(source, np.full((5, 32, 32, 1), 0.25, np.float32))
    assert stats == {"border_mean": 0.25, "source_shape": [8, 8, 1]}


def test_a_dark_digit_on_white_is_inverted_for_a_model_of_white_digits_on_black():
    found = compare_with_training(digit(light_on_dark=False), (64, 64, 1), DIGITS)
    assert found["inverted"] and found["border"] == 1.0 and found["training_border"] == 0.0


def test_a_digit_like_the_training_ones_is_not_inverted():
    assert not compare_with_training(digit(), (64, 64, 1), DIGITS)["inverted"]


def test_a_mid_grey_training_border_never_calls_a_picture_inverted():
    photos = {**DIGITS, "input_shape": [32, 32, 3], "border_mean": 0.45}
    assert not compare_with_training(digit(light_on_dark=False), (64, 64, 3), photos)["inverted"]


def test_old_checkpoints_without_border_statistics_compare_whole_picture_means():
    old = {"input_shape": [32, 32, 1], "mean": [0.1], "std": [0.3]}
    found = compare_with_training(digit(light_on_dark=False), (64, 64, 1), old)
    assert found["inverted"] and found["measure"] == "mean brightness"


def test_a_colour_picture_for_a_grey_model_is_reported():
    image = digit()
    image[..., 0] = 0.8
    assert compare_with_training(image, (64, 64, 3), DIGITS)["colour_for_grey"]
    assert not compare_with_training(digit(), (64, 64, 3), DIGITS)["colour_for_grey"]  # grey stored as RGB


def test_a_grey_picture_for_a_colour_model_is_reported():
    colour = {**DIGITS, "input_shape": [32, 32, 3], "source_shape": [32, 32, 3]}
    assert compare_with_training(digit(), (64, 64, 1), colour)["grey_for_colour"]


def test_a_picture_much_wider_than_the_training_images_is_reported():
    assert compare_with_training(digit(), (100, 300, 1), DIGITS)["aspect"] == pytest.approx(1 / 3)
    assert compare_with_training(digit(), (100, 120, 1), DIGITS)["aspect"] is None
