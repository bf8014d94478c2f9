"""Turn an uploaded chest X-ray (PNG, JPEG or DICOM bytes) into an 8-bit grey image, pixels only.

`prepare_image` trusts the file's content, not its name: the type is sniffed from the bytes (PNG
and JPEG signatures, the DICOM "DICM" preamble). Every image is fully decoded, so a truncated or
corrupt file fails here rather than inside the model. Deep images (16-bit PNG, DICOM) are min-max
scaled to 0-255 *before* any 8-bit conversion: Pillow's `convert("L")` clamps 16-bit values at 255,
which saturates most of a 12-bit radiograph. DICOM pixel values go through the modality LUT
(rescale slope/intercept) and, when present, the VOI LUT or window; MONOCHROME1 is inverted so that
bone is bright.

Privacy: the returned image is rebuilt from the pixel array, so no DICOM header, PNG text chunk or
EXIF field survives, and no metadata value is ever put into a log line or an error message.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import PurePath
from typing import NamedTuple

import numpy as np
import pydicom
from PIL import Image, ImageOps, UnidentifiedImageError
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, apply_voi_lut

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_ASPECT_RATIO = 4.0
DEFAULT_DECODE_BUDGET_BYTES = 256 * 1024 * 1024

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"
_DICOM_SUFFIXES = {".dcm", ".dicom", ".dic"}
_PIXEL_DATA_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_LUMA = np.array([0.299, 0.587, 0.114])


class ImageError(ValueError):
    """An upload that cannot be used; `str(error)` is a message written for the radiologist."""


class ImageTooLarge(ImageError):
    """Too many bytes or too many pixels (HTTP 413)."""


class UnsupportedImageType(ImageError):
    """Not a PNG, JPEG or DICOM file (HTTP 415)."""


# Bytes per pixel while a raster image of each Pillow mode is decoded and turned into 8-bit grey:
# the decoded image, each conversion's copy and, for deep modes, the float64 scaling arrays.
_DECODE_BYTES_PER_PIXEL = {"1": 3, "L": 3, "P": 6, "LA": 8, "PA": 10, "RGB": 8, "RGBA": 12}
_DEEP_DECODE_BYTES_PER_PIXEL = 14
"""I, F and I;16 modes: 2-4 decoded bytes, their array copy, one float32 array, the result."""
_DESCRIBED_MODES = {
    "1": "black-and-white",
    "L": "8-bit grey",
    "P": "palette colour",
    "LA": "grey with transparency",
    "PA": "palette colour with transparency",
    "RGB": "colour",
    "RGBA": "colour with transparency",
}


def decode_cost(width: int, height: int, mode: str) -> int:
    """Bytes of memory `prepare_image` needs to decode a `width` x `height` raster of `mode`."""
    per_pixel = _DECODE_BYTES_PER_PIXEL.get(mode, _DEEP_DECODE_BYTES_PER_PIXEL)
    return width * height * per_pixel


def check_shape(width: int, height: int, max_aspect_ratio: float) -> None:
    """Refuse an image the model cannot use: no pixels, or one side more than
    `max_aspect_ratio` times the other (the model sees a square)."""
    if width <= 0 or height <= 0:
        raise ImageError("The image has no pixels.")
    if max(width, height) > max_aspect_ratio * min(width, height):
        raise ImageError(
            f"This image is {width:,} × {height:,} pixels (width × height); a chest X-ray must "
            f"be at most {max_aspect_ratio:g} times wider than tall or taller than wide. Please "
            "upload the whole radiograph, not a strip or a montage."
        )


def check_budget(cost: int, width: int, height: int, what: str, budget: int) -> None:
    """Refuse an image whose decoding would need more than `budget` bytes of memory."""
    if cost > budget:
        raise ImageTooLarge(
            f"This image is {width:,} × {height:,} pixels in {what}; checking it would need "
            f"about {_megabytes(cost)} MB of memory, more than the {_megabytes(budget)} MB this "
            "server allows for one image. Please export it smaller (a chest X-ray needs no "
            "more than about 3,000 pixels a side) or in 8-bit grey."
        )


def prepare_image(
    data: bytes,
    filename: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_aspect_ratio: float = DEFAULT_MAX_ASPECT_RATIO,
    decode_budget_bytes: int = DEFAULT_DECODE_BUDGET_BYTES,
    reserve: Callable[[int], AbstractContextManager[object]] = lambda n_bytes: nullcontext(),
) -> Image.Image:
    """Decode `data` into a PIL "L" image holding only pixels; raise `ImageError` if unusable.

    The size, aspect ratio and decoding cost are checked from the header before any pixel is
    decoded, so an image that would need more than `decode_budget_bytes` is never decoded;
    the decoding itself runs inside `reserve(estimated bytes)` (a shared memory budget).
    `filename` only decides whether a file without any known signature is worth trying as a
    preamble-less DICOM (suffix .dcm/.dicom/.dic); it never appears in messages or logs.
    """
    if len(data) == 0:
        raise ImageError("The file is empty.")
    if len(data) > max_bytes:
        raise ImageTooLarge(
            f"The file is {_megabytes(len(data))} MB; the limit is {_megabytes(max_bytes)} MB."
        )
    kind = _sniff(data, filename)
    limits = _Limits(max_pixels, max_aspect_ratio, decode_budget_bytes, reserve)
    pixels = _decode_dicom(data, limits) if kind == "DICOM" else _decode_raster(data, kind, limits)
    logger.debug("prepared a %s image of %dx%d pixels", kind, pixels.shape[1], pixels.shape[0])
    return Image.fromarray(pixels)


def _sniff(data: bytes, filename: str) -> str:
    if data.startswith(_PNG_SIGNATURE):
        return "PNG"
    if data.startswith(_JPEG_SIGNATURE):
        return "JPEG"
    if data[128:132] == b"DICM":
        return "DICOM"
    if PurePath(filename).suffix.lower() in _DICOM_SUFFIXES:
        return "DICOM"
    raise UnsupportedImageType("The file is not a PNG, JPEG or DICOM image.")


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1024 / 1024:.3g}"


def _megapixels(n_pixels: int) -> str:
    return f"{n_pixels / 1e6:.3g}"


class _Limits(NamedTuple):
    max_pixels: int
    max_aspect_ratio: float
    decode_budget_bytes: int
    reserve: Callable[[int], AbstractContextManager[object]]


def _check_pixel_count(width: int, height: int, limits: _Limits) -> None:
    check_shape(width, height, limits.max_aspect_ratio)
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"This image is {width:,} × {height:,} pixels ({_megapixels(width * height)} "
            f"megapixels); the limit is {_megapixels(limits.max_pixels)} megapixels."
        )


def _decode_raster(data: bytes, kind: str, limits: _Limits) -> np.ndarray:
    """PNG/JPEG -> uint8 (H, W): size, shape and memory checked from the header first."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[kind])
            _check_pixel_count(image.width, image.height, limits)
            mode = _DESCRIBED_MODES.get(image.mode, f"{image.mode} (deep) pixels")
            cost = decode_cost(image.width, image.height, image.mode)
            check_budget(cost, image.width, image.height, mode, limits.decode_budget_bytes)
            if image.format != kind:
                raise ImageError(f"The file starts like a {kind} but is not a readable {kind}.")
            with limits.reserve(cost):
                image.load()
                return _grey_uint8(ImageOps.exif_transpose(image))
    except Image.DecompressionBombError:
        raise ImageTooLarge(
            "The image has too many pixels; "
            f"the limit is {_megapixels(limits.max_pixels)} megapixels."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        if isinstance(error, ImageError):
            raise
        raise ImageError(f"The {kind} file is damaged or truncated and cannot be read.") from None


def _grey_uint8(image: Image.Image) -> np.ndarray:
    """Any Pillow mode -> uint8 grey; deep modes are min-max scaled before leaving their range."""
    if image.mode in {"I", "F"} or image.mode.startswith("I;16"):
        return _scale_to_uint8(np.asarray(image))
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA").convert("RGB")
    if image.mode != "L":
        image = image.convert("L")
    return np.array(image, dtype=np.uint8)


def _scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Min-max scale to 0-255 in one float32 working array; a constant image becomes black."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = values.astype(np.float32)
    scaled -= low
    scaled *= 255.0 / (high - low)
    np.rint(scaled, out=scaled)
    return scaled.astype(np.uint8)


def _check_dicom_pixel_data(dataset: pydicom.Dataset, limits: _Limits) -> tuple[int, int, int]:
    """(rows, columns, decoding cost in bytes) after checking the header's size and memory cost,
    and that uncompressed pixel data holds no more bytes than the header describes."""
    rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
    _check_pixel_count(columns, rows, limits)
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    bits = int(dataset.get("BitsAllocated", 16) or 16)
    stored = rows * columns * samples * frames * max(bits, 8) // 8
    cost = stored + rows * columns * samples * (8 + 8 + 4 + 1)
    check_budget(
        cost, columns, rows, f"{frames} frame(s) of {bits}-bit DICOM", limits.decode_budget_bytes
    )
    syntax = getattr(dataset, "file_meta", None) and dataset.file_meta.get("TransferSyntaxUID")
    if "PixelData" in dataset and (syntax is None or not syntax.is_compressed) and bits >= 8:
        length = len(dataset.PixelData)
        if length > stored + 1:
            raise ImageError(
                f"The DICOM is damaged: its pixel data holds {length:,} bytes, but its header "
                f"describes {frames} image(s) of {columns:,} × {rows:,} pixels ({stored:,} bytes)."
            )
    return rows, columns, cost


def _decode_dicom(data: bytes, limits: _Limits) -> np.ndarray:
    """DICOM -> uint8 (H, W): modality LUT, VOI LUT/window, MONOCHROME1 inverted, first frame."""
    has_preamble = data[128:132] == b"DICM"
    try:
        dataset = pydicom.dcmread(io.BytesIO(data), force=not has_preamble)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError):
        raise ImageError("The DICOM file is damaged and cannot be read.") from None
    if not any(keyword in dataset for keyword in _PIXEL_DATA_KEYWORDS):
        if not has_preamble:
            raise UnsupportedImageType("The file is not a PNG, JPEG or DICOM image.")
        raise ImageError("The file is a DICOM without pixel data (no image is stored in it).")
    rows, columns, cost = _check_dicom_pixel_data(dataset, limits)
    with limits.reserve(cost):
        return _dicom_grey(dataset, rows, columns)


def _dicom_grey(dataset: pydicom.Dataset, rows: int, columns: int) -> np.ndarray:
    try:
        pixels = dataset.pixel_array
    except (NotImplementedError, RuntimeError) as error:
        syntax = getattr(dataset.file_meta.get("TransferSyntaxUID"), "name", "unknown")
        raise ImageError(
            f"The DICOM is compressed in a format this server cannot decode ({syntax})."
        ) from error
    except (ValueError, AttributeError, TypeError, OSError, EOFError, KeyError):
        raise ImageError("The DICOM pixel data is damaged or incomplete.") from None
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    samples = int(dataset.get("SamplesPerPixel", 1))
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        pixels = pixels[0]
    if pixels.shape[:2] != (rows, columns):
        raise ImageError("The DICOM pixel data does not match the image size in its header.")
    if samples > 1:
        if photometric != "RGB":
            raise ImageError(f"The DICOM colour space {photometric} is not supported.")
        return _scale_to_uint8(pixels[..., :3].astype(np.float64) @ _LUMA)
    values = apply_modality_lut(pixels, dataset)
    if "WindowCenter" in dataset or "VOILUTSequence" in dataset:
        values = apply_voi_lut(values, dataset)
    scaled = _scale_to_uint8(np.asarray(values))
    if photometric == "MONOCHROME1":
        scaled = 255 - scaled
    return scaled
