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

__all__ = ["DlibReader"]

# float_details stores these exponents for the special values.
_SPECIAL_EXPONENTS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
# Larger tensor dimensions are no model's: refused before any reshape.
_MAX_DIM = 2**31


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

    def column(self, size, what):
        """A ``matrix<float,0,1>`` of ``size`` rows (any size when None): its values as a list."""
        start = self.pos
        nr, nc = abs(self.int(f"the rows of {what}")), abs(self.int(f"the columns of {what}"))
        if nc != 1 or (size is not None and nr != size):
            self.fail(f"a column of {size if size is not None else 'some'} rows for {what}",
                      f"found a {nr}x{nc} matrix", at=start)
        return self.floats(nr, what)

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
