"""dlib's random face-chip jitter (``dlib::jitter_image``) and the generator behind it (``dlib::rand``).

dlib's ``compute_face_descriptor(img, shape, num_jitters)`` averages the descriptors
of ``num_jitters`` randomly perturbed copies of the aligned chip. The perturbations
come from a ``dlib::rand`` owned by the recognition model (so they continue from call
to call): a 32-bit Mersenne twister (MT19937, seed 5489) with its first 10,000
outputs discarded. Each jitter draws, in this order: a shift of up to 2% of the
chip in y then in x (C++ evaluates the two arguments of that call right to left, as
GCC does), a zoom (the face filling 97-99.999% of the crop), a rotation of up to 3
degrees, and a coin for a left-right flip.
"""
import math

import numpy as np

from cnnkit.face.align import ChipDetails, extract_chip

__all__ = ["DlibRand", "jitter_image"]

_N, _M = 624, 397
_MATRIX_A, _UPPER, _LOWER = 0x9908B0DF, 0x80000000, 0x7FFFFFFF
# get_random_double's divisor: 48 random bits scaled to [0, 1).
_MAX_VAL = 0xFFFFFF * float(0x1000000) + 0xFFFFFF + 0.05


class DlibRand:
    """``dlib::rand``: MT19937 seeded with 5489 (or dlib's hash of a seed string), 10,000 outputs discarded.

    Parameters
    ----------
    seed : str, optional
        dlib's string seed (``s = s * 37 + char`` over its bytes); the default
        generator when empty.
    """

    def __init__(self, seed=""):
        value = 5489
        if seed:
            value = 0
            for byte in seed.encode("latin-1"):
                value = (value * 37 + byte) & 0xFFFFFFFF
        state = [value]
        for i in range(1, _N):
            state.append((1812433253 * (state[-1] ^ (state[-1] >> 30)) + i) & 0xFFFFFFFF)
        self._state = np.array(state, dtype=np.uint64)
        self._outputs, self._next = np.zeros(0, dtype=np.uint64), 0
        for _ in range(10000):
            self.random_32bit()

    def _twist(self):
        """Regenerate the 624 state words (vectorised in the three ranges the recurrence allows)."""
        mt = self._state

        def mix(upper, lower, far):
            y = (upper & _UPPER) | (lower & _LOWER)
            return far ^ (y >> np.uint64(1)) ^ np.where(y & np.uint64(1), np.uint64(_MATRIX_A), np.uint64(0))

        mt[:_N - _M] = mix(mt[:_N - _M], mt[1:_N - _M + 1], mt[_M:])
        # Words 227..622 use words 0..395 updated just above, in three dependent chunks.
        for start in range(_N - _M, _N - 1, _N - _M):
            stop = min(start + _N - _M, _N - 1)
            mt[start:stop] = mix(mt[start:stop], mt[start + 1:stop + 1], mt[start - (_N - _M):stop - (_N - _M)])
        mt[_N - 1] = mix(mt[_N - 1:], mt[:1], mt[_M - 1:_M])[0]
        y = mt.copy()
        y ^= y >> np.uint64(11)
        y ^= (y << np.uint64(7)) & np.uint64(0x9D2C5680)
        y ^= (y << np.uint64(15)) & np.uint64(0xEFC60000)
        y ^= y >> np.uint64(18)
        self._outputs, self._next = y & np.uint64(0xFFFFFFFF), 0

    def random_32bit(self):
        """The next 32-bit output (``get_random_32bit_number``)."""
        if self._next == len(self._outputs):
            self._twist()
        self._next += 1
        return int(self._outputs[self._next - 1])

    def random_double(self):
        """A double in [0, 1) from 48 random bits (``get_random_double``)."""
        value = (self.random_32bit() & 0xFFFFFF) * float(0x1000000)
        value = (value + (self.random_32bit() & 0xFFFFFF)) / _MAX_VAL
        return value if value < 1.0 else 1.0 - np.finfo(np.float64).eps

    def double_in_range(self, begin, end):
        """``begin + random_double() * (end - begin)`` (``get_double_in_range``)."""
        return begin + self.random_double() * (end - begin)


def jitter_image(chip, rng):
    """dlib's ``jitter_image``: a randomly shifted, zoomed, rotated and maybe mirrored copy of a square chip.

    Parameters
    ----------
    chip : ndarray of uint8, shape (S, S, 3)
        An aligned face chip (150x150 for the face recognition ResNet).
    rng : DlibRand
        Advanced by 10 outputs.

    Returns
    -------
    ndarray of uint8, shape (S, S, 3)
    """
    chip = np.asarray(chip)
    if chip.ndim != 3 or chip.shape[0] != chip.shape[1] or chip.shape[0] < 7 or chip.dtype != np.uint8:
        raise ValueError(f"jitter_image: chip must be a square RGB uint8 image (S, S, 3), got shape {chip.shape} "
                         f"and dtype {chip.dtype}")
    size = chip.shape[0]
    # shrink_rect(get_rect(chip), 3): a (size - 6)-pixel square from (3, 3).
    side = size - 6
    dy = rng.double_in_range(-0.02, 0.02) * side
    dx = rng.double_in_range(-0.02, 0.02) * side
    scale = rng.double_in_range(0.97, 0.99999)
    box = int(side / scale)
    # dlib's center() of the integer rectangle, then the shift rounded to whole pixels.
    cx = (3 + size - 4 + 1) // 2 + math.floor(dx + 0.5)
    cy = (3 + size - 4 + 1) // 2 + math.floor(dy + 0.5)
    left, top = cx - box // 2, cy - box // 2
    angle = rng.double_in_range(-3.0, 3.0) * math.pi / 180
    crop = extract_chip(chip, ChipDetails(rect=(left, top, left + box - 1, top + box - 1), angle=angle, size=size))
    if rng.random_double() > 0.5:
        crop = crop[:, ::-1].copy()
    return crop
