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
encoder wrote (compiled by numba: a pure Python loop took 15 s on the detector's
127 kB); any inconsistency (a bad marker, a CRC mismatch) is an error.
"""
import zlib

import numpy as np
from numba import njit

__all__ = ["decompress_kernel_1ea"]

_MASK = 0xFFFFFFFF
_EOF_SYMBOL = 256
_ALPHABET = 257
_TOTAL_NODES = 200_000
_ORDER = 4
_MARKER_EVERY = 20_000
_NULL = -1
_ROOT = 0
# Indices into the coder's state array: input position, low, high, the last get_target step, the code value.
_POS, _LOW, _HIGH, _STEP, _CODE = range(5)
# Indices into the model's state array: the current context node, its order, the next free node, how many
# symbols are excluded.
_CUR, _CUR_ORDER, _NEXT_NODE, _EXCLUDED = range(4)


@njit(cache=True, nogil=True)
def _byte(data, coder):
    """The next input byte; 0 past the end, as dlib's stream reads give."""
    if coder[_POS] < len(data):
        coder[_POS] += 1
        return np.int64(data[coder[_POS] - 1])
    return np.int64(0)


@njit(cache=True, nogil=True)
def _get_target(coder, total):
    """dlib's ``entropy_decoder_kernel_2::get_target``: where the code value falls in ``[0, total)``."""
    coder[_STEP] = ((coder[_HIGH] - coder[_LOW] + 1) & _MASK) // total
    value = ((coder[_CODE] - coder[_LOW]) & _MASK) // coder[_STEP]
    return value if value < total else total - 1


@njit(cache=True, nogil=True)
def _narrow(data, coder, low_count, high_count):
    """dlib's ``decode``: narrow the range to ``[low_count, high_count)`` of the last target and renormalise."""
    low, step = coder[_LOW], coder[_STEP]
    high = (low + step * high_count - 1) & _MASK
    low = (low + step * low_count) & _MASK
    coder[_STEP] = 0
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
            coder[_CODE] = ((coder[_CODE] << 8) | _byte(data, coder)) & _MASK
            high = ((high << 8) | 0xFF) & _MASK
            low = (low << 8) & _MASK
            if low == 0:
                low = 1
    coder[_LOW], coder[_HIGH] = low, high


@njit(cache=True, nogil=True)
def _clear(nodes, model):
    """Forget every context (dlib does this when the nodes run out)."""
    nxt, child, parent, total, escapes = nodes[0], nodes[1], nodes[2], nodes[5], nodes[6]
    model[_NEXT_NODE] = 1
    child[_ROOT], escapes[_ROOT], total[_ROOT], nxt[_ROOT], parent[_ROOT] = _NULL, 0, 0, _NULL, _NULL
    model[_CUR], model[_CUR_ORDER] = _ROOT, 0


@njit(cache=True, nogil=True)
def _scale(nodes, node):
    """Halve the escape count and every child's count of ``node`` (none below 1) and recompute its total."""
    nxt, child, count, total, escapes = nodes[0], nodes[1], nodes[4], nodes[5], nodes[6]
    if escapes[node] > 1:
        escapes[node] >>= 1
    new_total = escapes[node]
    n = child[node]
    while n != _NULL:
        if count[n] > 1:
            count[n] >>= 1
        new_total += count[n]
        n = nxt[n]
    total[node] = new_total


@njit(cache=True, nogil=True)
def _allocate(model):
    """A fresh node index."""
    model[_NEXT_NODE] += 1
    return model[_NEXT_NODE] - 1


@njit(cache=True, nogil=True)
def _clear_exclusions(model, excluded, excluded_list):
    """Include every symbol again."""
    for i in range(model[_EXCLUDED]):
        excluded[excluded_list[i]] = 0
    model[_EXCLUDED] = 0


@njit(cache=True, nogil=True)
def _decode_symbol(data, coder, nodes, model, excluded, excluded_list, stack):
    """dlib's ``entropy_decoder_model_kernel_5<257, ..., 200000, 4>::decode``: one symbol, the model updated."""
    nxt, child, parent, symbol_of, count, total, escapes = (nodes[0], nodes[1], nodes[2], nodes[3], nodes[4],
                                                            nodes[5], nodes[6])
    context, local_order = model[_CUR], model[_CUR_ORDER]
    model[_CUR] = _NULL
    new_node, depth, symbol, c, t = _NULL, 0, 0, 0, 0
    _clear_exclusions(model, excluded, excluded_list)
    while True:
        if model[_NEXT_NODE] >= _TOTAL_NODES:
            _clear(nodes, model)
            context, local_order, model[_CUR], new_node, depth = model[_CUR], model[_CUR_ORDER], _NULL, _NULL, 0
            _clear_exclusions(model, excluded, excluded_list)
            continue
        high_count = 0
        total_count = total[context]
        if total_count > 0:
            if total_count > 10000:
                _scale(nodes, context)
                total_count = total[context]
            if model[_EXCLUDED]:
                total_count = escapes[context]
                n = child[context]
                while n != _NULL:
                    if not excluded[symbol_of[n]]:
                        total_count += count[n]
                    n = nxt[n]
            target = _get_target(coder, total_count)
            n, last = child[context], _NULL
            while True:
                if not excluded[symbol_of[n]]:
                    high_count += count[n]
                    excluded[symbol_of[n]] = 1
                    excluded_list[model[_EXCLUDED]] = symbol_of[n]
                    model[_EXCLUDED] += 1
                if high_count > target or nxt[n] == _NULL:
                    break
                last, n = n, nxt[n]
            if high_count > target:
                # Found in this context.
                if new_node != _NULL:
                    parent[new_node] = n
                symbol = symbol_of[n]
                _narrow(data, coder, high_count - count[n], high_count)
                count[n] += 8
                total[context] += 8
                c, t = count[n], total[context]
                if last != _NULL:
                    nxt[last], nxt[n], child[context] = nxt[n], child[context], n
                if model[_CUR] == _NULL:
                    if local_order < _ORDER:
                        model[_CUR], model[_CUR_ORDER] = n, local_order + 1
                    else:
                        model[_CUR], model[_CUR_ORDER] = parent[n], local_order
                break
            # An escape: the symbol is new in this context; it gets a node here.
            if new_node != _NULL:
                parent[new_node] = _allocate(model)
                new_node = parent[new_node]
            else:
                new_node = _allocate(model)
            nxt[n] = new_node
            _narrow(data, coder, high_count, total_count)
        else:
            if new_node != _NULL:
                parent[new_node] = _allocate(model)
                new_node = parent[new_node]
            else:
                new_node = _allocate(model)
            child[context] = new_node
        if model[_CUR] == _NULL and local_order < _ORDER:
            model[_CUR], model[_CUR_ORDER] = new_node, local_order + 1
        child[new_node], escapes[new_node], nxt[new_node], total[new_node] = _NULL, 0, _NULL, 0
        stack[depth, 0], stack[depth, 1] = new_node, context
        depth += 1
        if context != _ROOT:
            context = parent[context]
            local_order -= 1
            continue
        # Escaped from the root: the order -1 context, every symbol equally likely.
        t, c = 2056, 8
        symbol = _get_target(coder, _ALPHABET)
        parent[new_node] = _ROOT
        _narrow(data, coder, symbol, symbol + 1)
        if model[_CUR] == _NULL:
            model[_CUR], model[_CUR_ORDER] = _ROOT, 0
        break
    # Information inheritance: a new symbol's count from its count in the shorter context.
    while depth > 0:
        depth -= 1
        n, nc = stack[depth, 0], stack[depth, 1]
        symbol_of[n] = symbol
        if total[nc]:
            denominator = t - c + total[nc] - 2 * escapes[nc]
            # dlib computes this in unsigned long: a negative value wraps to a huge one.
            inherited = 2 if denominator < 0 else min(total[nc] * c // (denominator | 1) + 2, 50000)
            count[n] = inherited
            escapes[nc] += 4
            total[nc] = (total[nc] + inherited + 4) & 0xFFFF
        else:
            count[n] = 3 + 5 * c // (t - c)
            escapes[nc] = 4
            total[nc] = count[n] + 4
        while total[nc] > 10000:
            _scale(nodes, nc)
    return symbol


@njit(cache=True, nogil=True)
def _decompress(data, out):
    """Decode into ``out``: (bytes written, stored CRC-32, status); status 0 ok, 1 bad marker, 2 ``out`` full."""
    coder = np.zeros(5, np.int64)
    coder[_LOW], coder[_HIGH] = 1, _MASK
    for _ in range(4):
        coder[_CODE] = (coder[_CODE] << 8) | _byte(data, coder)
    nodes = np.empty((7, _TOTAL_NODES), np.int64)
    model = np.zeros(4, np.int64)
    _clear(nodes, model)
    excluded, excluded_list = np.zeros(_ALPHABET, np.uint8), np.zeros(_ALPHABET, np.int64)
    stack = np.empty((_ORDER + 2, 2), np.int64)
    written, since_marker = 0, 0
    while True:
        if since_marker == _MARKER_EVERY:
            if _get_target(coder, 8000) != 1500:
                return written, 0, 1
            since_marker = 0
            _narrow(data, coder, 1500, 1501)
        since_marker += 1
        symbol = _decode_symbol(data, coder, nodes, model, excluded, excluded_list, stack)
        if symbol == _EOF_SYMBOL:
            break
        if written == len(out):
            return written, 0, 2
        out[written] = symbol
        written += 1
    checksum = 0
    for _ in range(4):
        checksum = (checksum << 8) | (_decode_symbol(data, coder, nodes, model, excluded, excluded_list, stack) & 0xFF)
    return written, checksum, 0


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
    stream = np.frombuffer(bytes(data), dtype=np.uint8)
    capacity = max(4 * len(stream), 1 << 16)
    while True:
        out = np.empty(capacity, dtype=np.uint8)
        written, checksum, status = _decompress(stream, out)
        if status != 2:
            break
        # Output larger than guessed: decode again into a larger buffer (the model state starts afresh).
        capacity *= 4
    if status == 1:
        raise ValueError(f"{source}: the compressed stream is corrupt (a synchronisation marker is missing after "
                         f"{written} bytes); is it dlib's compress_stream kernel_1ea?")
    result = out[:written].tobytes()
    if checksum != zlib.crc32(result):
        raise ValueError(f"{source}: the decompressed data fails its CRC-32 check (stored {checksum:08x}, "
                         f"computed {zlib.crc32(result):08x}); the compressed stream is corrupt")
    return result
