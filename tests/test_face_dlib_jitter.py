"""dlib's random chip jitter and its generator, against dlib-bin."""
import subprocess
import sys

import numpy as np
import pytest

from cnnkit.face.dlib_jitter import DlibRand, jitter_image


def test_the_generator_is_mt19937_seeded_5489_with_10000_outputs_skipped():
    raw = np.random.RandomState(5489)._bit_generator.random_raw(10_700)
    rng = DlibRand()
    assert [rng.random_32bit() for _ in range(700)] == raw[10_000:].tolist()


def test_a_string_seed_is_hashed_as_dlib_hashes_it():
    seed = 0
    for byte in b"face":
        seed = (seed * 37 + byte) & 0xFFFFFFFF
    raw = np.random.RandomState(seed)._bit_generator.random_raw(10_001)
    assert DlibRand("face").random_32bit() == raw[-1]


def test_doubles_take_48_bits_and_stay_below_one():
    rng = DlibRand()
    values = [rng.random_double() for _ in range(1000)]
    assert 0 <= min(values) and max(values) < 1 and len(set(values)) == 1000


def test_jitters_equal_dlibs_from_a_fresh_generator(tmp_path):
    pytest.importorskip("dlib")
    y, x, c = np.mgrid[:150, :150, :3]
    chip = ((x * 3 + y * 5 + c * 40) % 256).astype(np.uint8)
    np.save(tmp_path / "chip.npy", chip)
    # dlib.jitter_image draws from a generator created on its first call: a fresh process.
    code = ("import sys, numpy as np, dlib; chip = np.load(sys.argv[1]); "
            "np.save(sys.argv[2], np.stack(dlib.jitter_image(chip, num_jitters=4)))")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "chip.npy"), str(tmp_path / "dlib.npy")], check=True)
    rng = DlibRand()
    ours = np.stack([jitter_image(chip, rng) for _ in range(4)])
    np.testing.assert_array_equal(ours, np.load(tmp_path / "dlib.npy"))


def test_a_jitter_is_a_chip_of_the_same_size_and_draws_ten_numbers():
    rng, reference = DlibRand(), DlibRand()
    out = jitter_image(np.zeros((150, 150, 3), dtype=np.uint8), rng)
    assert out.shape == (150, 150, 3) and out.dtype == np.uint8
    for _ in range(10):
        reference.random_32bit()
    assert rng.random_32bit() == reference.random_32bit()


def test_a_non_square_chip_is_refused():
    with pytest.raises(ValueError, match=r"square RGB uint8 .* got shape \(150, 149, 3\)"):
        jitter_image(np.zeros((150, 149, 3), dtype=np.uint8), DlibRand())
