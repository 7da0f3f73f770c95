"""The dlib_mmod zoo model: dlib's CNN face detector network, its parameters, names and geometry."""
import numpy as np

from cnnkit import no_grad
from cnnkit.models import MODELS, get_model


def test_it_is_registered_with_dlibs_parameter_count():
    model = get_model("dlib_mmod")
    assert "dlib_mmod" in MODELS and model.config == {"name": "dlib_mmod", "dtype": None}
    # 7 convolutions (5x5 3->16->32->32->45->45->45, 9x9 45->1) and 6 affine layers.
    assert sum(int(p.size) for p in model.parameters()) == 181_141


def test_state_dict_keys_are_the_dlib_converters_names():
    keys = set(get_model("dlib_mmod").state_dict())
    assert keys == ({f"conv{i}.{p}" for i in range(1, 8) for p in ("weight", "bias")}
                    | {f"affine{i}.{p}" for i in range(1, 7) for p in ("gamma", "beta")})


def test_three_stride_2_convolutions_give_one_score_per_8_pixels():
    model = get_model("dlib_mmod", rng=0).eval()
    with no_grad():
        out = model(np.zeros((1, 100, 132, 3), dtype=np.float32))
    assert out.shape == (1, 9, 13, 1)          # 100 -> 48 -> 22 -> 9, 132 -> 64 -> 30 -> 13
    ys, xs = model.output_to_input([0, 8], [0, 12])
    np.testing.assert_array_equal(ys, [14, 78])
    np.testing.assert_array_equal(xs, [14, 110])
