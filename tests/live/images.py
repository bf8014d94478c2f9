"""Test images as upload bytes: PNGs (8- and 16-bit, truncated, header-only giants); DICOMs come
from tests.support.dicom."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def xray_png(seed: int = 0, size: tuple[int, int] = (64, 72)) -> bytes:
    """An 8-bit grey PNG of random pixels (height, width = size)."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=size, dtype=np.uint8)
    return png_bytes(Image.fromarray(pixels))


def ramp_12bit(height: int = 48, width: int = 64) -> np.ndarray:
    """A horizontal ramp over 0..4095 (a 12-bit detector's range) as uint16."""
    return np.tile(np.linspace(0, 4095, width).round().astype(np.uint16), (height, 1))


def png_16bit() -> bytes:
    """A 16-bit greyscale PNG holding a 12-bit ramp."""
    return png_bytes(Image.fromarray(ramp_12bit()))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height 8-bit grey pixels but holds one byte of data:
    only a check made on the header (before decoding) can call it too large."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00"))
        + _chunk(b"IEND", b"")
    )


def png_bomb(width: int = 7000, height: int = 7000) -> bytes:
    """A real, complete PNG of width x height 16-bit RGBA black pixels (8 bytes each): about
    380 KB on disk for 7000 x 7000, ~390 MB once decoded. Compressed row by row."""
    header = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width * 8)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def truncated_png() -> bytes:
    data = xray_png(seed=3, size=(120, 120))
    return data[: len(data) // 2]
