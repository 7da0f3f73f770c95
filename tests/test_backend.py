"""cnnkit.backend: the CPU threads."""
import pytest

from cnnkit.backend import get_num_threads, set_num_threads


def test_set_num_threads_limits_the_blas_threads():
    before = get_num_threads()
    try:
        set_num_threads(1)
        assert get_num_threads() == 1
    finally:
        set_num_threads(before)
    assert get_num_threads() == before


@pytest.mark.parametrize("n", [0, -1])
def test_set_num_threads_rejects_fewer_than_one_thread(n):
    with pytest.raises(ValueError, match="set_num_threads"):
        set_num_threads(n)


@pytest.mark.parametrize("n", [1.5, True, "2"])
def test_set_num_threads_rejects_anything_but_an_int(n):
    with pytest.raises(TypeError, match="set_num_threads"):
        set_num_threads(n)
