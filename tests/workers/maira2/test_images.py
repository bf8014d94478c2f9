"""Upload decoding: content sniffing, deep images, DICOM LUTs, size limits, no metadata leaks."""

from __future__ import annotations

import io
import logging
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.support.dicom import PATIENT_NAME, dicom_bytes
from workers.maira2.images import ImageError, ImageTooLarge, UnsupportedImageType, prepare_image


def _png(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def _ramp(height: int = 32, width: int = 64, high: int = 4095) -> np.ndarray:
    return np.tile(np.linspace(0, high, width).round().astype(np.uint16), (height, 1))


def test_8bit_png_passes_through() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (20, 30), dtype=np.uint8)
    image = prepare_image(_png(Image.fromarray(pixels)), "x.png")
    assert image.mode == "L" and image.size == (30, 20)
    np.testing.assert_array_equal(np.asarray(image), pixels)


def test_16bit_png_is_scaled_before_8bit_conversion() -> None:
    image = prepare_image(_png(Image.fromarray(_ramp())), "x.png")
    values = np.asarray(image)
    assert image.mode == "L"
    assert values.min() == 0 and values.max() == 255
    assert (values == 255).mean() < 0.05
    assert np.all(np.diff(values[0].astype(int)) >= 0)


def test_rgb_and_rgba_become_grey() -> None:
    rgb = Image.new("RGB", (8, 6), (200, 100, 50))
    rgba = Image.new("RGBA", (8, 6), (10, 20, 30, 128))
    assert prepare_image(_png(rgb), "c.png").mode == "L"
    assert prepare_image(_png(rgba), "c.png").mode == "L"
    jpeg = io.BytesIO()
    rgb.save(jpeg, "JPEG")
    decoded = prepare_image(jpeg.getvalue(), "photo.jpg")
    assert decoded.mode == "L" and decoded.size == (8, 6)


def test_type_comes_from_content_not_name() -> None:
    with pytest.raises(UnsupportedImageType, match="not a PNG, JPEG or DICOM"):
        prepare_image(b"patient notes, not an image\n" * 20, "scan.png")
    with pytest.raises(UnsupportedImageType, match="not a PNG, JPEG or DICOM"):
        prepare_image(b"patient notes, not an image\n" * 20, "scan.dcm")
    preambleless = dicom_bytes(_ramp(4, 8))[132:]
    assert prepare_image(preambleless, "old.dcm").size == (8, 4)
    png = _png(Image.new("L", (5, 5), 9))
    assert prepare_image(png, "scan.dcm").size == (5, 5)


def test_truncated_and_corrupt_files_are_rejected() -> None:
    png = _png(Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)))
    with pytest.raises(ImageError, match="damaged or truncated"):
        prepare_image(png[: len(png) // 2], "x.png")
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(jpeg, "JPEG")
    with pytest.raises(ImageError, match="damaged or truncated"):
        prepare_image(jpeg.getvalue()[:200], "x.jpg")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose pixel data is a few bytes of junk."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )


def test_too_many_pixels_rejected_before_decoding() -> None:
    with pytest.raises(ImageError, match="damaged"):
        prepare_image(_png_header_only(100, 100), "small.png")
    message = r"10,000 × 10,000 pixels \(100 megapixels\); the limit is 50 megapixels\."
    with pytest.raises(ImageTooLarge, match=message):
        prepare_image(_png_header_only(10_000, 10_000), "big.png", max_pixels=50_000_000)
    with pytest.raises(ImageError, match="megapixels"):
        prepare_image(_png_header_only(40_000, 40_000), "bomb.png")
    big_dicom = dicom_bytes(_ramp(4, 4), rows_columns=(20_000, 20_000))
    with pytest.raises(ImageError, match=r"\(400 megapixels\); the limit is 50 megapixels\."):
        prepare_image(big_dicom, "big.dcm")


def test_too_many_bytes_rejected() -> None:
    with pytest.raises(ImageTooLarge, match=r"The file is 0\.\d+ MB; the limit is 0\.000954 MB\."):
        prepare_image(_png(Image.effect_noise((40, 40), 64)), "x.png", max_bytes=1000)


def test_dicom_modality_lut_and_monochrome() -> None:
    pixels = _ramp()
    plain = np.asarray(prepare_image(dicom_bytes(pixels, slope=2.0, intercept=-1024.0), "a.dcm"))
    assert plain.min() == 0 and plain.max() == 255
    assert plain[0, 0] == 0 and plain[0, -1] == 255
    inverted = np.asarray(prepare_image(dicom_bytes(pixels, photometric="MONOCHROME1"), "b.dcm"))
    np.testing.assert_array_equal(inverted, 255 - plain)


def test_dicom_window_is_applied() -> None:
    pixels = _ramp()
    windowed = np.asarray(prepare_image(dicom_bytes(pixels, window=(1000.0, 400.0)), "w.dcm"))
    row = windowed[0]
    below, above = row[pixels[0] < 790], row[pixels[0] > 1210]
    assert np.all(below == 0) and np.all(above == 255)
    assert 0 < (row == 255).mean() < 1


def test_dicom_without_pixel_data() -> None:
    with pytest.raises(ImageError, match="The file is a DICOM without pixel data") as raised:
        prepare_image(dicom_bytes(None), "empty.dcm")
    assert "Doe" not in str(raised.value)


def test_no_patient_metadata_leaks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    image = prepare_image(dicom_bytes(_ramp()), f"{PATIENT_NAME}.dcm")
    info = PngInfo()
    info.add_text("PatientName", PATIENT_NAME)
    png_image = prepare_image(_png(Image.new("L", (6, 6), 3), pnginfo=info), f"{PATIENT_NAME}.png")
    for result in (image, png_image):
        assert result.info == {}
        assert not result.getexif()
        assert b"Doe" not in result.tobytes()
    assert "Doe" not in caplog.text and "MRN" not in caplog.text
    assert caplog.records, "prepare_image should log what it did (without metadata)"
