"""The style-transfer costs against the course's formulas written directly in NumPy."""
import numpy as np
import pytest

from cnnkit import Tensor, gradcheck
from cnnkit.style import (content_cost, gram_matrix, layer_style_cost, style_cost, total_cost, total_variation,
                          unroll)

rng = np.random.default_rng(0)


def activations(n_H=4, n_W=3, n_C=5):
    return rng.standard_normal((1, n_H, n_W, n_C))


def numpy_gram(a):
    _, n_H, n_W, n_C = a.shape
    A = a.reshape(n_H * n_W, n_C).T
    return A @ A.T


def numpy_layer_style(a_S, a_G):
    _, n_H, n_W, n_C = a_S.shape
    return np.sum((numpy_gram(a_S) - numpy_gram(a_G)) ** 2) / (4 * n_C ** 2 * (n_H * n_W) ** 2)


def test_content_cost_matches_the_formula():
    a_C, a_G = activations(), activations()
    expected = np.sum((a_C - a_G) ** 2) / (4 * 4 * 3 * 5)
    np.testing.assert_allclose(content_cost(a_C, a_G).item(), expected, rtol=1e-12)


def test_content_cost_of_identical_activations_is_zero():
    a = activations()
    assert content_cost(a, a.copy()).item() == 0


def test_unroll_puts_channels_in_rows():
    a = activations()
    np.testing.assert_array_equal(unroll(a).numpy(), a.reshape(12, 5).T)


def test_gram_matrix_is_A_times_A_transpose():
    A = rng.standard_normal((5, 12))
    np.testing.assert_allclose(gram_matrix(A).numpy(), A @ A.T, rtol=1e-12)


def test_layer_style_cost_matches_the_formula():
    a_S, a_G = activations(), activations()
    np.testing.assert_allclose(layer_style_cost(a_S, a_G).item(), numpy_layer_style(a_S, a_G), rtol=1e-12)


def test_layer_style_cost_of_identical_activations_is_zero():
    a = activations()
    assert layer_style_cost(a, a.copy()).item() == 0


def test_layer_style_cost_of_different_activations_is_positive():
    assert layer_style_cost(activations(), activations()).item() > 0


def test_style_cost_weights_the_layers_by_name():
    a_S = {"conv1_1": activations(4, 4, 3), "conv2_1": activations(2, 2, 6)}
    a_G = {"conv1_1": activations(4, 4, 3), "conv2_1": activations(2, 2, 6)}
    weights = {"conv1_1": 0.3, "conv2_1": 0.7}
    expected = sum(w * numpy_layer_style(a_S[k], a_G[k]) for k, w in weights.items())
    np.testing.assert_allclose(style_cost(a_S, a_G, weights).item(), expected, rtol=1e-12)


def test_style_cost_pairs_sequences_in_order():
    a_S = [activations(4, 4, 3), activations(2, 2, 6)]
    a_G = [activations(4, 4, 3), activations(2, 2, 6)]
    expected = 0.2 * numpy_layer_style(a_S[0], a_G[0]) + 0.8 * numpy_layer_style(a_S[1], a_G[1])
    np.testing.assert_allclose(style_cost(a_S, a_G, [0.2, 0.8]).item(), expected, rtol=1e-12)


def test_style_cost_rejects_sequences_of_different_lengths():
    with pytest.raises(ValueError, match="2 style and 1 generated"):
        style_cost([activations(), activations()], [activations()], [0.5, 0.5])


def test_total_cost_is_alpha_content_plus_beta_style():
    assert total_cost(2.0, 3.0).item() == 10 * 2.0 + 40 * 3.0
    assert total_cost(2.0, 3.0, alpha=1, beta=0.5).item() == 3.5


def test_total_variation_matches_the_formula():
    x = rng.standard_normal((2, 5, 4, 3))
    expected = np.sum(np.diff(x, axis=1) ** 2) + np.sum(np.diff(x, axis=2) ** 2)
    np.testing.assert_allclose(total_variation(x).item(), expected, rtol=1e-12)


def test_costs_reject_activations_of_different_shapes():
    with pytest.raises(ValueError, match=r"\(1, 4, 3, 5\) and \(1, 3, 4, 5\)"):
        content_cost(activations(4, 3, 5), activations(3, 4, 5))
    with pytest.raises(ValueError, match=r"\(1, n_H, n_W, n_C\)"):
        layer_style_cost(rng.standard_normal((2, 4, 3, 5)), rng.standard_normal((2, 4, 3, 5)))


def test_costs_keep_float32():
    a = activations().astype(np.float32)
    assert content_cost(a, a * 2).dtype == np.float32
    assert layer_style_cost(a, a * 2).dtype == np.float32


@pytest.mark.parametrize("cost", [content_cost, layer_style_cost], ids=["content", "layer_style"])
def test_cost_gradient_with_respect_to_the_generated_activations(cost):
    a_fixed = Tensor(activations())
    assert gradcheck(lambda a_G: cost(a_fixed, a_G), [activations()])


def test_total_variation_gradient():
    assert gradcheck(total_variation, [rng.standard_normal((1, 4, 5, 3))])
