"""L-BFGS and the style-transfer loop, on a randomly initialised VGG-16 and tiny images."""
import numpy as np
import pytest

from cnnkit.models.vgg_features import vgg16_features
from cnnkit.nn import init
from cnnkit.style import lbfgs, stylize
from cnnkit.style.transfer import _RGB_TO_YIQ

rng = np.random.default_rng(0)
MODEL = vgg16_features(weights=None, rng=0)
# He initialisation keeps the activations alive down to conv5 (PyTorch's default lets them die out)
for name, param in MODEL.named_parameters():
    init.kaiming_normal_(param, nonlinearity="relu", rng=rng) if name.endswith("weight") else init.zeros_(param)
CONTENT = rng.uniform(0, 1, (12, 16, 3)).astype(np.float32)
STYLE = (rng.uniform(0, 1, (40, 40, 3)) * 255).astype(np.uint8)


def rosenbrock(x):
    f = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
    grad = np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])
    return f, grad


def test_lbfgs_finds_the_minimum_of_rosenbrocks_function():
    x, f = lbfgs(rosenbrock, np.array([-1.2, 1.0]), steps=200)
    np.testing.assert_allclose(x, [1, 1], atol=1e-5)
    assert f < 1e-10


def test_lbfgs_solves_a_quadratic_in_fewer_steps_than_dimensions():
    A = rng.standard_normal((30, 30))
    A = A @ A.T + 30 * np.eye(30)
    b = rng.standard_normal(30)
    x, _ = lbfgs(lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b), np.zeros(30), steps=25)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), atol=1e-6)


def test_lbfgs_keeps_the_dtype_and_shape_of_the_start():
    x, _ = lbfgs(lambda x: (float(np.sum(x ** 2)), 2 * x), np.ones((2, 3), np.float32), steps=3)
    assert x.shape == (2, 3) and x.dtype == np.float32


def test_lbfgs_reports_each_step_to_the_callback():
    steps = []
    lbfgs(rosenbrock, np.array([-1.2, 1.0]), steps=4, callback=lambda step, x, f: steps.append(step))
    assert steps == [1, 2, 3, 4]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_stylize_lowers_the_total_cost(optimizer):
    result = stylize(CONTENT, STYLE, size=16, steps=4, optimizer=optimizer, model=MODEL)
    assert result.losses[-1]["total"] < result.losses[0]["total"]


def test_stylize_returns_an_rgb_picture_of_the_requested_size_in_0_1():
    image = stylize(CONTENT, STYLE, size=16, steps=2, model=MODEL).image
    assert image.shape == (12, 16, 3) and image.dtype == np.float32
    assert 0 <= image.min() and image.max() <= 1


def test_stylize_starting_from_the_content_has_zero_content_cost():
    result = stylize(CONTENT, STYLE, size=16, steps=0, model=MODEL)
    assert result.losses[0]["content"] == 0 and result.losses[0]["style"] > 0


def test_stylize_starting_from_noise_has_a_content_cost():
    result = stylize(CONTENT, STYLE, size=16, steps=0, init="noise", model=MODEL)
    assert result.losses[0]["content"] > 0


def test_stylize_calls_back_every_k_steps_and_after_the_last():
    calls = []
    stylize(CONTENT, STYLE, size=16, steps=5, every=2, model=MODEL,
            callback=lambda step, image, losses: calls.append((step, image.shape, sorted(losses))))
    assert [c[0] for c in calls] == [2, 4, 5]
    assert calls[0][1:] == ((12, 16, 3), ["content", "style", "total", "tv"])


def test_stylize_with_preserve_color_keeps_the_content_colours():
    content = np.clip(CONTENT * 0.5 + 0.25, 0, 1)  # away from the clipping bounds
    image = stylize(content, STYLE, size=16, steps=2, preserve_color=True, model=MODEL).image
    np.testing.assert_allclose((image @ _RGB_TO_YIQ.T)[..., 1:], (content @ _RGB_TO_YIQ.T)[..., 1:], atol=1e-5)


def test_stylize_blends_several_styles():
    one = stylize(CONTENT, STYLE, size=16, steps=0, model=MODEL).losses[0]["style"]
    other = stylize(CONTENT, STYLE[::-1, :, ::-1], size=16, steps=0, model=MODEL).losses[0]["style"]
    blended = stylize(CONTENT, [STYLE, STYLE[::-1, :, ::-1]], style_blend_weights=[3, 1], size=16, steps=0,
                      model=MODEL).losses[0]["style"]
    np.testing.assert_allclose(blended, 0.75 * one + 0.25 * other, rtol=1e-4)


def test_stylize_rejects_an_unknown_optimizer():
    with pytest.raises(ValueError, match="'sgd'"):
        stylize(CONTENT, STYLE, size=16, steps=1, optimizer="sgd", model=MODEL)


def test_stylize_rejects_layer_weights_that_do_not_match_the_layers():
    with pytest.raises(ValueError, match="2 style layer weights for 5 style layers"):
        stylize(CONTENT, STYLE, size=16, steps=1, style_layer_weights=[0.5, 0.5], model=MODEL)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_stylize_records_the_losses_of_every_step_from_the_start(optimizer):
    result = stylize(CONTENT, STYLE, size=16, steps=3, optimizer=optimizer, model=MODEL)
    assert [entry["step"] for entry in result.losses] == [0, 1, 2, 3]
    assert result.seconds_per_step > 0
