"""Reading dlib's ``compress_stream::kernel_1ea`` format: how old dlib releases embed data in headers.

dlib 20.0.1 compiles its HOG face detector from a base64 string in
``dlib/image_processing/frontal_face_detector.h``, compressed by
``compress_stream::kernel_1ea`` (``dlib/compress_stream.h``). That format is:

- a 32-bit range coder (``entropy_decoder::kernel_2a``): ``low`` starts at 1,
  ``high`` at ``2**32 - 1``; after each symbol the range is renormalised byte by
  byte, and when it straddles a byte boundary while narrower than ``0x10000`` it is
  collapsed onto its midpoint (the coder's own underflow rule);
- a PPM model of order 4 over 257 symbols (``entropy_decoder_model::kernel_5a``,
  200,000 context nodes): escape method D, Shkarin's information inheritance for
  the counts of new symbols, symbol exclusion on escapes, move-to-front of a
  context's children, counts halved past 10,000, the model reset when the nodes run
  out; an order -1 context codes any byte uniformly;
- the stream: one byte symbol after another, a marker (1500 of 8000) after every
  20,000 symbols, symbol 256 at the end, then the CRC-32 of the data as four
  big-endian bytes coded as symbols.

The decoder below follows that description so that it reads exactly what dlib's
encoder wrote; any inconsistency (a bad marker, a CRC mismatch) is an error.
"""
import zlib

__all__ = ["decompress_kernel_1ea"]

_MASK = 0xFFFFFFFF
_EOF_SYMBOL = 256
_ALPHABET = 257
_TOTAL_NODES = 200_000
_ORDER = 4
_MARKER_EVERY = 20_000
_NULL = -1
_ROOT = 0


class _RangeDecoder:
    """dlib's ``entropy_decoder_kernel_2``: a 32-bit range decoder over ``data``."""

    def __init__(self, data):
        self.data, self.pos = data, 0
        self.low, self.high, self.r = 1, _MASK, 0
        target = 0
        for _ in range(4):
            target = (target << 8) | self._byte()
        self.target = target

    def _byte(self):
        """The next input byte; 0 past the end, as dlib's stream reads give."""
        if self.pos < len(self.data):
            self.pos += 1
            return self.data[self.pos - 1]
        return 0

    def get_target(self, total):
        """Where the code value falls in ``[0, total)`` (the current range split in ``total`` steps)."""
        self.r = ((self.high - self.low + 1) & _MASK) // total
        value = ((self.target - self.low) & _MASK) // self.r
        return value if value < total else total - 1

    def decode(self, low_count, high_count):
        """Narrow the range to ``[low_count, high_count)`` of the last ``get_target`` and renormalise."""
        low, high, r = self.low, self.high, self.r
        high = (low + r * high_count - 1) & _MASK
        low = (low + r * low_count) & _MASK
        self.r = 0
        while True:
            if (high ^ low) & 0xFF000000:
                gap = (high - low) & _MASK
                if gap >= 0x10000:
                    break
                # The range straddles a byte boundary but is narrow: collapse it on its midpoint.
                mid = ((high >> 1) + (low >> 1)) & _MASK
                if gap > 0x1000:
                    high, low = (mid + 0xFF) & _MASK, (mid - 0xFF) & _MASK
                else:
                    high = low = mid
            else:
                self.target = ((self.target << 8) | self._byte()) & _MASK
                high = ((high << 8) | 0xFF) & _MASK
                low = (low << 8) & _MASK or 1
        self.low, self.high = low, high


class _PPMModel:
    """dlib's ``entropy_decoder_model_kernel_5<257, ..., 200000, 4>``: the context tree as parallel lists."""

    def __init__(self, coder):
        self.coder = coder
        n = _TOTAL_NODES
        self.next, self.child, self.parent = [_NULL] * n, [_NULL] * n, [_NULL] * n
        self.symbol, self.count, self.total, self.escapes = [0] * n, [0] * n, [0] * n, [0] * n
        self.clear()

    def clear(self):
        """Forget every context (dlib does this when the nodes run out)."""
        self.next_node = 1
        self.child[_ROOT], self.escapes[_ROOT], self.total[_ROOT] = _NULL, 0, 0
        self.next[_ROOT] = self.parent[_ROOT] = _NULL
        self.cur, self.cur_order = _ROOT, 0

    def _allocate(self):
        """A fresh node index."""
        self.next_node += 1
        return self.next_node - 1

    def _scale(self, node):
        """Halve the escape count and every child's count of ``node`` (none below 1) and recompute its total."""
        if self.escapes[node] > 1:
            self.escapes[node] >>= 1
        total = self.escapes[node]
        n = self.child[node]
        count = self.count
        while n != _NULL:
            if count[n] > 1:
                count[n] >>= 1
            total += count[n]
            n = self.next[n]
        self.total[node] = total

    def decode(self):
        """Decode one symbol (0-256) and update the model as dlib's encoder did."""
        coder, nxt, child, parent = self.coder, self.next, self.child, self.parent
        symbol_of, count, total = self.symbol, self.count, self.total
        context, self.cur = self.cur, _NULL
        local_order = self.cur_order
        new_node = _NULL
        excluded = set()
        stack = []
        while True:
            if self.next_node >= _TOTAL_NODES:
                self.clear()
                context, local_order, self.cur, new_node = self.cur, self.cur_order, _NULL, _NULL
                stack.clear()
                excluded.clear()
                continue
            high_count = 0
            total_count = total[context]
            if total_count > 0:
                if total_count > 10000:
                    self._scale(context)
                    total_count = total[context]
                if excluded:
                    total_count = self.escapes[context]
                    n = child[context]
                    while n != _NULL:
                        if symbol_of[n] not in excluded:
                            total_count += count[n]
                        n = nxt[n]
                target = coder.get_target(total_count)
                n, last = child[context], _NULL
                while True:
                    if symbol_of[n] not in excluded:
                        high_count += count[n]
                        excluded.add(symbol_of[n])
                    if high_count > target or nxt[n] == _NULL:
                        break
                    last, n = n, nxt[n]
                if high_count > target:
                    # Found in this context.
                    if new_node != _NULL:
                        parent[new_node] = n
                    symbol = symbol_of[n]
                    coder.decode(high_count - count[n], high_count)
                    count[n] += 8
                    total[context] += 8
                    c, t = count[n], total[context]
                    if last != _NULL:
                        nxt[last], nxt[n], child[context] = nxt[n], child[context], n
                    if self.cur == _NULL:
                        if local_order < _ORDER:
                            self.cur, self.cur_order = n, local_order + 1
                        else:
                            self.cur, self.cur_order = parent[n], local_order
                    break
                # An escape: the symbol is new in this context; it gets a node here.
                if new_node != _NULL:
                    parent[new_node] = self._allocate()
                    new_node = parent[new_node]
                else:
                    new_node = self._allocate()
                nxt[n] = new_node
                coder.decode(high_count, total_count)
            else:
                if new_node != _NULL:
                    parent[new_node] = self._allocate()
                    new_node = parent[new_node]
                else:
                    new_node = self._allocate()
                child[context] = new_node
            if self.cur == _NULL and local_order < _ORDER:
                self.cur, self.cur_order = new_node, local_order + 1
            child[new_node], self.escapes[new_node], nxt[new_node], total[new_node] = _NULL, 0, _NULL, 0
            stack.append((new_node, context))
            if context != _ROOT:
                context = parent[context]
                local_order -= 1
                continue
            # Escaped from the root: the order -1 context, every symbol equally likely.
            t, c = 2056, 8
            symbol = coder.get_target(_ALPHABET)
            parent[new_node] = _ROOT
            coder.decode(symbol, symbol + 1)
            if self.cur == _NULL:
                self.cur, self.cur_order = _ROOT, 0
            break
        # Information inheritance: a new symbol's count from its count in the shorter context.
        escapes = self.escapes
        while stack:
            n, nc = stack.pop()
            symbol_of[n] = symbol
            if total[nc]:
                denominator = (t - c + total[nc] - 2 * escapes[nc]) & 0xFFFFFFFFFFFFFFFF
                inherited = min(total[nc] * c // (denominator | 1) + 2, 50000)
                count[n] = inherited
                escapes[nc] += 4
                total[nc] = (total[nc] + inherited + 4) & 0xFFFF
            else:
                count[n] = 3 + 5 * c // (t - c)
                escapes[nc] = 4
                total[nc] = count[n] + 4
            while total[nc] > 10000:
                self._scale(nc)
        return symbol


def decompress_kernel_1ea(data, source="compressed data"):
    """Decompress bytes written by dlib's ``compress_stream::kernel_1ea``.

    Parameters
    ----------
    data : bytes
        The compressed stream.
    source : str
        Named in errors, e.g. the file the stream came from.

    Returns
    -------
    bytes
        The original data, its CRC-32 checked.

    Raises
    ------
    ValueError
        When a synchronisation marker or the CRC-32 does not match (corrupt or
        not dlib's format).
    """
    coder = _RangeDecoder(bytes(data))
    model = _PPMModel(coder)
    out = bytearray()
    since_marker = 0
    while True:
        if since_marker == _MARKER_EVERY:
            if coder.get_target(8000) != 1500:
                raise ValueError(f"{source}: the compressed stream is corrupt (a synchronisation marker is "
                                 f"missing after {len(out)} bytes); is it dlib's compress_stream kernel_1ea?")
            since_marker = 0
            coder.decode(1500, 1501)
        since_marker += 1
        symbol = model.decode()
        if symbol == _EOF_SYMBOL:
            break
        out.append(symbol)
    checksum = 0
    for _ in range(4):
        checksum = (checksum << 8) | (model.decode() & 0xFF)
    if checksum != zlib.crc32(out):
        raise ValueError(f"{source}: the decompressed data fails its CRC-32 check (stored {checksum:08x}, "
                         f"computed {zlib.crc32(out):08x}); the compressed stream is corrupt")
    return bytes(out)
