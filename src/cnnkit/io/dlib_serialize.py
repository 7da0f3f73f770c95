"""dlib's serialization primitives (``dlib/serialize.h``): one cursor for the ``.dat`` readers.

The encodings, as dlib's ``serialize.h`` writes them: an integer is a control byte
(bit 7 the sign, the low nibble the byte count 1-8, bits 4-6 zero) then that many
little-endian bytes of magnitude; a float is ``float_details``, an integer mantissa
and an integer base-2 exponent, with reserved exponents for inf, -inf and nan; a
string is an integer length then ASCII bytes; a bool is the character ``'0'`` or
``'1'``; a ``matrix`` is its row and column counts (negated by current dlib) then its
values; a ``tensor`` is a versioned shape record ``(n, k, r, c)`` then raw float32.
"""
import math

import numpy as np
from numba import njit

__all__ = ["DlibReader"]

# float_details stores these exponents for the special values.
_SPECIAL_EXPONENTS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
# Larger tensor dimensions are no model's: refused before any reshape.
_MAX_DIM = 2**31
# Runs of at least this many floats are decoded by the compiled loop (a shape predictor holds millions).
_COMPILED_RUN = 16


@njit(cache=True, nogil=True)
def _decode_int(data, pos):
    """One dlib integer at ``pos``: (value, position after it), or (0, -1) when it is not one."""
    if pos >= len(data):
        return 0, -1
    control = data[pos]
    size = control & 0x0F
    if control & 0x70 or size < 1 or size > 8 or pos + 1 + size > len(data):
        return 0, -1
    value = 0
    for k in range(size - 1, -1, -1):
        value = (value << 8) | np.int64(data[pos + 1 + k])
    return (-value if control & 0x80 else value), pos + 1 + size


@njit(cache=True, nogil=True)
def _decode_floats(data, pos, n, out):
    """Decode ``n`` float_details into ``out``; the position after them, or -1 - (index of the bad float)."""
    for i in range(n):
        mantissa, pos = _decode_int(data, pos)
        if pos < 0:
            return -1 - i
        exponent, pos = _decode_int(data, pos)
        if pos < 0:
            return -1 - i
        if exponent == 32000:
            out[i] = np.inf
        elif exponent == 32001:
            out[i] = -np.inf
        elif exponent == 32002:
            out[i] = np.nan
        elif -1100 < exponent < 1100:
            out[i] = math.ldexp(np.float64(mantissa), exponent)
        else:
            return -1 - i
    return pos


@njit(cache=True, nogil=True)
def _decode_columns(data, pos, out):
    """Decode ``len(out)`` ``matrix<float,0,1>`` of ``out.shape[1]`` rows each into ``out``.

    Returns the position after them, or -1 - (index of the first bad column).
    """
    rows = out.shape[1]
    for i in range(out.shape[0]):
        nr, pos = _decode_int(data, pos)
        if pos < 0 or abs(nr) != rows:
            return -1 - i
        nc, pos = _decode_int(data, pos)
        if pos < 0 or abs(nc) != 1:
            return -1 - i
        pos = _decode_floats(data, pos, rows, out[i])
        if pos < 0:
            return -1 - i
    return pos


class DlibReader:
    """A cursor over dlib-serialized bytes whose errors name the byte offset and what was expected.

    Parameters
    ----------
    data : bytes-like
        The whole serialized object.
    source : str
        Named at the start of every error, e.g. the file name.
    """

    def __init__(self, data, source):
        # bytes rather than a memoryview: indexing and short slices of bytes keep int() fast.
        self.data = bytes(data)
        self.source = source
        self.pos = 0
        self._bytes = None

    def fail(self, what, problem, at=None):
        """Raise ValueError naming the source, the byte offset (default: the cursor), ``what`` and ``problem``."""
        raise ValueError(f"{self.source}: at byte {self.pos if at is None else at}: expected {what}, {problem}")

    def _truncated(self, what, start):
        """Fail for an item starting at ``start`` that runs past the end of the data."""
        self.fail(what, f"but the file ends after {len(self.data) - start} more bytes "
                        f"(total {len(self.data)}; truncated?)", at=start)

    def _advance(self, n, what):
        """Move past ``n`` bytes and return where they start."""
        start = self.pos
        if start + n > len(self.data):
            self._truncated(what, start)
        self.pos = start + n
        return start

    def expect_end(self):
        """Fail unless every byte has been read."""
        if self.pos != len(self.data):
            self.fail("the end of the file", f"found {len(self.data) - self.pos} more bytes")

    def int(self, what):
        """A signed dlib integer."""
        # The hot path of the shape predictor (millions of calls): locals, one bounds check per step.
        data, pos = self.data, self.pos
        if pos >= len(data):
            self._truncated(what, pos)
        control = data[pos]
        size = control & 0x0F
        if control & 0x70 or not 1 <= size <= 8:
            self.fail(what, f"found control byte 0x{control:02x}, which starts no dlib integer")
        end = pos + 1 + size
        if end > len(data):
            self._truncated(what, pos)
        self.pos = end
        value = int.from_bytes(data[pos + 1:end], "little")
        return -value if control & 0x80 else value

    def count(self, what, allowed=None):
        """A non-negative dlib integer, one of ``allowed`` when given."""
        start = self.pos
        value = self.int(what)
        if value < 0 or (allowed is not None and value not in allowed):
            self.fail(what if allowed is None else f"{what} in {sorted(allowed)}", f"found {value}", at=start)
        return value

    def bool(self, what):
        """A bool written as the character '0' or '1'."""
        start = self._advance(1, what)
        byte = self.data[start:self.pos]
        if byte not in (b"0", b"1"):
            self.fail(what, f"found byte {byte!r} instead of '0' or '1'", at=start)
        return byte == b"1"

    def string(self, what):
        """An ASCII string: its length, then its bytes."""
        start = self.pos
        n = self.int(what)
        if n < 0:
            self.fail(what, f"found a negative string length {n}", at=start)
        try:
            return self.data[self._advance(n, what):self.pos].decode("ascii")
        except UnicodeDecodeError:
            self.fail(what, "found a non-ASCII string", at=start)

    def name(self, what, expected):
        """A string that must equal ``expected``: the record name of a versioned dlib object."""
        start = self.pos
        name = self.string(f"the name {expected!r} of {what}")
        if name != expected:
            self.fail(f"the name {expected!r} of {what}", f"found {name!r} (another layer or an unsupported "
                                                          f"version: does the file match the template?)", at=start)

    def float(self, what):
        """A ``float_details`` value: mantissa * 2**exponent, or inf, -inf, nan."""
        start = self.pos
        try:
            mantissa = self.int(f"the mantissa of {what}")
        except ValueError:
            # Checked only on failure, off the hot path: old dlib wrote floats as text.
            if start < len(self.data) and self.data[start] & 0x70:
                self.fail(what, "found dlib's old text float format, which is not supported", at=start)
            raise
        exponent = self.int(f"the exponent of {what}")
        if exponent in _SPECIAL_EXPONENTS:
            return _SPECIAL_EXPONENTS[exponent]
        if not -1100 < exponent < 1100:
            self.fail(what, f"found the exponent {exponent}, which is no float", at=start)
        try:
            return math.ldexp(mantissa, exponent)
        except OverflowError:
            self.fail(what, f"found {mantissa} * 2**{exponent}, which overflows a double", at=start)

    def floats(self, n, what):
        """``n`` floats, the i-th named ``f"{what} {i}"``."""
        return [self.float(f"{what} {i}") for i in range(n)]

    def float_array(self, n, what):
        """``n`` floats as a float64 array (long runs decoded by a compiled loop); errors as :meth:`float`."""
        if n < _COMPILED_RUN:
            return np.array(self.floats(n, what), dtype=np.float64)
        if self._bytes is None:
            self._bytes = np.frombuffer(self.data, dtype=np.uint8)
        out = np.empty(n, dtype=np.float64)
        end = _decode_floats(self._bytes, self.pos, n, out)
        if end < 0:
            # Read the failing float again the slow way for the precise error.
            for i in range(-1 - end):
                self.float(f"{what} {i}")
            self.float(f"{what} {-1 - end}")
        self.pos = end
        return out

    def columns(self, count, size, what):
        """``count`` columns of ``size`` rows each as a (count, size) float64 array, decoded in one compiled loop."""
        if self._bytes is None:
            self._bytes = np.frombuffer(self.data, dtype=np.uint8)
        out = np.empty((count, size), dtype=np.float64)
        end = _decode_columns(self._bytes, self.pos, out)
        if end < 0:
            # Read the failing column again the slow way for the precise error.
            for i in range(-end):
                self.column(size, f"column {i} of {what}")
        self.pos = end
        return out

    def column(self, size, what):
        """A ``matrix<float,0,1>`` of ``size`` rows (any size when None): its values as a float64 array."""
        start = self.pos
        nr, nc = abs(self.int(f"the rows of {what}")), abs(self.int(f"the columns of {what}"))
        if nc != 1 or (size is not None and nr != size):
            self.fail(f"a column of {size if size is not None else 'some'} rows for {what}",
                      f"found a {nr}x{nc} matrix", at=start)
        return self.float_array(nr, what)

    def tensor_shape(self, what, version):
        """A tensor shape record of the given version: ``(n, k, r, c)``, each in [0, 2**31)."""
        self.count(f"the version of {what}", {version})
        start = self.pos
        shape = tuple(self.int(f"dimension {axis} of {what}") for axis in "nkrc")
        if not all(0 <= n < _MAX_DIM for n in shape):
            self.fail(f"{what} with dimensions in [0, 2**31)", f"found {shape}", at=start)
        return shape

    def tensor(self, what):
        """A ``resizable_tensor`` (shape record version 2, then raw little-endian float32): (n, k, r, c) float32."""
        shape = self.tensor_shape(what, 2)
        # Python ints: the product cannot overflow; _advance checks it against the file before allocating.
        count = math.prod(shape)
        at = self._advance(4 * count, f"{count} float32 values of {what} with shape {shape}")
        # astype copies out of the file's buffer into native byte order.
        return np.frombuffer(self.data, dtype="<f4", count=count, offset=at).astype(np.float32).reshape(shape)
