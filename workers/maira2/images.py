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
from pathlib import PurePath

import numpy as np
import pydicom
from PIL import Image, ImageOps, UnidentifiedImageError
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, apply_voi_lut

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024

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


def prepare_image(
    data: bytes,
    filename: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Image.Image:
    """Decode `data` into a PIL "L" image holding only pixels; raise `ImageError` if unusable.

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
    pixels = (
        _decode_dicom(data, max_pixels)
        if kind == "DICOM"
        else _decode_raster(data, kind, max_pixels)
    )
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


def _check_pixel_count(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageError("The image has no pixels.")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"The image is {_megapixels(width * height)} megapixels; "
            f"the limit is {_megapixels(max_pixels)}."
        )


def _decode_raster(data: bytes, kind: str, max_pixels: int) -> np.ndarray:
    """PNG/JPEG -> uint8 (H, W): header size checked before the full decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[kind])
            _check_pixel_count(image.width, image.height, max_pixels)
            if image.format != kind:
                raise ImageError(f"The file starts like a {kind} but is not a readable {kind}.")
            image.load()
            image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:
        raise ImageTooLarge(
            f"The image has too many pixels; the limit is {_megapixels(max_pixels)} megapixels."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        if isinstance(error, ImageError):
            raise
        raise ImageError(f"The {kind} file is damaged or truncated and cannot be read.") from None
    return _grey_uint8(image)


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
    """Min-max scale to 0-255; a constant image becomes black."""
    values = values.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.round((values - low) * (255.0 / (high - low))).astype(np.uint8)


def _decode_dicom(data: bytes, max_pixels: int) -> np.ndarray:
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
    rows, columns = int(dataset.get("Rows", 0)), int(dataset.get("Columns", 0))
    _check_pixel_count(columns, rows, max_pixels)
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
