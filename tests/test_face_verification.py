"""Verification as binary classification: pair features and logistic regression on pairs."""
import numpy as np
import pytest

from cnnkit.face.verification import PairVerifier, pair_features


def clustered_pairs(people, seed, spread=0.03, per_person=6, dim=16):
    """Descriptors around one centre per person, every unordered pair, and whether it is one person."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((people, dim)) * 0.1
    labels = np.repeat(np.arange(people), per_person)
    descriptors = centres[labels] + rng.standard_normal((len(labels), dim)) * spread
    i, j = np.triu_indices(len(labels), k=1)
    return descriptors[i], descriptors[j], labels[i] == labels[j]


def test_abs_features_are_the_componentwise_distance():
    np.testing.assert_allclose(pair_features([[1.0, -2.0]], [[0.5, 1.0]]), [[0.5, 3.0]])


def test_chi2_features_are_the_course_formula_for_non_negative_descriptors():
    a, b = np.array([[1.0, 3.0]]), np.array([[3.0, 1.0]])
    np.testing.assert_allclose(pair_features(a, b, "chi2"), (a - b) ** 2 / (a + b), rtol=1e-6)


def test_chi2_features_stay_finite_and_non_negative_when_descriptors_cancel():
    features = pair_features([[1.0, 0.0]], [[-1.0, 0.0]], "chi2")
    assert np.isfinite(features).all() and (features >= 0).all()
    assert features[0, 0] == pytest.approx(2.0, rel=1e-5)


@pytest.mark.parametrize("features", ["abs", "chi2"])
def test_logistic_regression_verifies_pairs_of_unseen_people(features):
    verifier = PairVerifier(features).fit(*clustered_pairs(12, seed=0))
    assert verifier.accuracy(*clustered_pairs(8, seed=1)) > 0.95


def test_predict_on_one_pair_gives_a_bool_and_a_probability():
    verifier = PairVerifier().fit(*clustered_pairs(6, seed=2))
    a, b, same = clustered_pairs(3, seed=3)
    assert isinstance(verifier.predict(a[0], b[0]), bool)
    assert 0 <= verifier.predict_proba(a[0], b[0]) <= 1


def test_an_unfitted_verifier_says_so():
    with pytest.raises(RuntimeError, match="fit"):
        PairVerifier().predict(np.zeros((1, 4)), np.zeros((1, 4)))


def test_fit_needs_both_kinds_of_pair():
    with pytest.raises(ValueError, match="both classes"):
        PairVerifier().fit(np.zeros((3, 4)), np.ones((3, 4)), [True, True, True])


def test_unknown_feature_form_is_refused():
    with pytest.raises(ValueError, match="chi2"):
        PairVerifier("cosine")
