"""conv_output_size predicts the shapes conv2d, max_pool2d and avg_pool2d return (property-based)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnkit.functional as F


@st.composite
def geometry(draw):
    """An input length, window, padding (at most half the window) and stride that fit together."""
    f = draw(st.integers(1, 5))
    p = draw(st.integers(0, f // 2))
    n = draw(st.integers(max(1, f - 2 * p), 12))
    s = draw(st.integers(1, 3))
    return n, f, p, s


@settings(max_examples=50, deadline=None)
@given(geometry(), geometry())
def test_conv_output_size_equals_the_shapes_conv_and_pooling_return(rows, cols):
    (H, KH, ph, sh), (W, KW, pw, sw) = rows, cols
    expected = (F.conv_output_size(H, KH, ph, sh), F.conv_output_size(W, KW, pw, sw))
    x = np.zeros((1, H, W, 2))
    assert F.conv2d(x, np.zeros((KH, KW, 2, 3)), stride=(sh, sw), padding=(ph, pw)).shape == (1, *expected, 3)
    assert F.max_pool2d(x, (KH, KW), (sh, sw), (ph, pw)).shape == (1, *expected, 2)
    assert F.avg_pool2d(x, (KH, KW), (sh, sw), (ph, pw)).shape == (1, *expected, 2)
