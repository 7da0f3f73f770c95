"""Decoding dlib's compress_stream::kernel_1ea, on streams written by dlib's own compressor."""
from pathlib import Path

import pytest

from cnnkit.io.dlib_compress import decompress_kernel_1ea

DATA = Path(__file__).resolve().parent / "data" / "dlib_compress"
SHORT = b"dlib's compress_stream, as dlib 20.0.1 writes it: " + bytes(range(256))
LONG = bytes((i * 7 + (i >> 5)) % 251 for i in range(25000))


def test_a_short_stream_decodes_to_its_input():
    assert decompress_kernel_1ea((DATA / "short.z").read_bytes()) == SHORT


def test_a_stream_past_the_synchronisation_marker_decodes_to_its_input():
    assert decompress_kernel_1ea((DATA / "long.z").read_bytes()) == LONG


def test_a_corrupted_byte_is_an_error_naming_the_source():
    data = bytearray((DATA / "long.z").read_bytes())
    data[700] ^= 0x10
    with pytest.raises(ValueError, match=r"^long\.z: .*corrupt"):
        decompress_kernel_1ea(bytes(data), source="long.z")


def test_a_truncated_stream_is_an_error():
    with pytest.raises(ValueError, match="corrupt"):
        decompress_kernel_1ea((DATA / "short.z").read_bytes()[:200])
