"""Draws synthetic frontal chest radiographs that show a chosen set of findings (numpy + Pillow).

A chest-like silhouette: soft tissue, two dark lung fields with faint vessel markings, spine,
clavicles, diaphragm domes and a bright cardiac silhouette. Each drawable finding changes what a
reader would look at: an effusion fills a costophrenic angle with a meniscus, cardiomegaly widens
the cardiac silhouette, a pneumothorax leaves a lucent rim without lung markings at a lung's apex
and side, a support device is a bright curve, and an opacity is a patchy bright cloud in a lung.
A normal study shows none of these. Sizes, positions and grey levels vary with the seed.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

EFFUSION = "Pleural Effusion"
CARDIOMEGALY = "Cardiomegaly"
PNEUMOTHORAX = "Pneumothorax"
DEVICE = "Support Devices"
OPACITY = "Lung Opacity"
DRAWN_FINDINGS = (EFFUSION, CARDIOMEGALY, PNEUMOTHORAX, DEVICE, OPACITY)
"""What the renderer can draw, named as the findings labeler's CheXpert observations."""
SIZE = 112


def _ellipse(ys: np.ndarray, xs: np.ndarray, cy: float, cx: float, ry: float, rx: float):
    return ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1.0


def _lungs(size: int, rng: np.random.Generator) -> tuple[list[dict[str, float]], float]:
    """Two lung fields (centre, radii) and the chest's vertical shift."""
    shift = rng.uniform(-0.03, 0.03) * size
    width = rng.uniform(0.17, 0.2) * size
    height = rng.uniform(0.3, 0.34) * size
    lungs = [
        {"cy": 0.48 * size + shift, "cx": centre * size, "ry": height, "rx": width}
        for centre in (0.29, 0.71)
    ]
    return lungs, shift


def _markings(size: int, rng: np.random.Generator) -> np.ndarray:
    """Faint branching vessel lines fanning out from the hila."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for hilum_x in (0.4 * size, 0.6 * size):
        direction = -1 if hilum_x < size / 2 else 1
        for _ in range(9):
            angle = rng.uniform(-1.3, 1.3)
            length = rng.uniform(0.15, 0.3) * size
            end = (
                hilum_x + direction * abs(np.cos(angle)) * length,
                0.5 * size + np.sin(angle) * length,
            )
            draw.line([(hilum_x, 0.5 * size), end], fill=255, width=1)
    return np.asarray(canvas, dtype=np.float32) / 255.0


def _curve(size: int, rng: np.random.Generator) -> np.ndarray:
    """A bright tube or line: a smooth curve from the neck or shoulder into the chest."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    start_x = rng.choice([rng.uniform(0.3, 0.4), 0.5, rng.uniform(0.6, 0.7)]) * size
    end = (rng.uniform(0.45, 0.58) * size, rng.uniform(0.5, 0.75) * size)
    bend = (rng.uniform(0.4, 0.6) * size, rng.uniform(0.2, 0.35) * size)
    t = np.linspace(0.0, 1.0, 40)
    xs = (1 - t) ** 2 * start_x + 2 * (1 - t) * t * bend[0] + t**2 * end[0]
    ys = (1 - t) ** 2 * 0.0 + 2 * (1 - t) * t * bend[1] + t**2 * end[1]
    draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=255, width=3)
    return np.asarray(canvas, dtype=np.float32) / 255.0


def draw_radiograph(
    findings: frozenset[str] | set[str], seed: int, size: int = SIZE
) -> Image.Image:
    """A greyscale frontal chest image (mode "L", `size` x `size`) showing `findings`.

    `findings` is a subset of `DRAWN_FINDINGS`; an empty set draws a normal study.
    """
    unknown = set(findings) - set(DRAWN_FINDINGS)
    if unknown:
        raise ValueError(f"cannot draw {sorted(unknown)}; drawable: {DRAWN_FINDINGS}")
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    image = np.full((size, size), 0.05, dtype=np.float32)
    lungs, shift = _lungs(size, rng)
    body = _ellipse(ys, xs, 0.55 * size + shift, 0.5 * size, 0.5 * size, 0.46 * size)
    image[body] = 0.42
    lung_mask = np.zeros((size, size), dtype=bool)
    for lung in lungs:
        lung_mask |= _ellipse(ys, xs, lung["cy"], lung["cx"], lung["ry"], lung["rx"])
    image[lung_mask] = 0.16
    markings = _markings(size, rng) * lung_mask
    image += 0.12 * markings
    spine = np.abs(xs - 0.5 * size) < 0.045 * size
    image[spine & body] = 0.62
    clavicle = np.abs(ys - (0.17 * size + shift + 0.15 * np.abs(xs - 0.5 * size))) < 1.5
    image[clavicle & (np.abs(xs - 0.5 * size) < 0.3 * size)] = 0.7
    diaphragm_y = lungs[0]["cy"] + 0.82 * lungs[0]["ry"]
    below = ys > diaphragm_y + 0.04 * ((xs - 0.5 * size) / (0.2 * size)) ** 2 * size
    image[below & body] = 0.5
    heart_rx = (0.19 if CARDIOMEGALY in findings else 0.11) * size * rng.uniform(0.93, 1.07)
    heart = _ellipse(ys, xs, 0.62 * size + shift, 0.53 * size, 0.14 * size, heart_rx)
    image[heart] = 0.66
    side_index = int(rng.integers(2))
    if EFFUSION in findings:
        for index in (side_index,) if rng.random() < 0.75 else (0, 1):
            lung = lungs[index]
            level = lung["cy"] + rng.uniform(0.2, 0.45) * lung["ry"]
            outer = xs < lung["cx"] if index == 0 else xs > lung["cx"]
            meniscus = ys > level - 0.06 * size * np.abs(xs - lung["cx"]) / lung["rx"]
            region = meniscus & outer & (ys < diaphragm_y + 0.06 * size) & body
            image[region] = 0.58
    if PNEUMOTHORAX in findings:
        lung = lungs[side_index]
        field = _ellipse(ys, xs, lung["cy"], lung["cx"], lung["ry"], lung["rx"])
        collapsed = _ellipse(
            ys,
            xs,
            lung["cy"] + 0.25 * lung["ry"],
            lung["cx"] + (0.2 if side_index == 0 else -0.2) * lung["rx"],
            0.72 * lung["ry"],
            0.62 * lung["rx"],
        )
        rim = field & ~collapsed
        image[rim] = 0.01
        edge = collapsed & ~_ellipse(
            ys,
            xs,
            lung["cy"] + 0.25 * lung["ry"],
            lung["cx"] + (0.2 if side_index == 0 else -0.2) * lung["rx"],
            0.72 * lung["ry"] - 1.2,
            0.62 * lung["rx"] - 1.2,
        )
        image[edge & field] = 0.45
    if OPACITY in findings:
        lung = lungs[int(rng.integers(2))]
        cy = lung["cy"] + rng.uniform(-0.4, 0.5) * lung["ry"]
        cx = lung["cx"] + rng.uniform(-0.3, 0.3) * lung["rx"]
        cloud = np.zeros((size, size), dtype=np.float32)
        for _ in range(6):
            py, px = cy + rng.normal(0, 0.07 * size), cx + rng.normal(0, 0.05 * size)
            radius = rng.uniform(0.04, 0.07) * size
            cloud += np.exp(-(((ys - py) ** 2 + (xs - px) ** 2) / (2 * radius**2)))
        image += 0.45 * np.clip(cloud, 0, 1) * lung_mask
    image *= rng.uniform(0.9, 1.1)
    if DEVICE in findings:
        image = np.maximum(image, _curve(size, rng))
    image += rng.normal(0, 0.02, size=(size, size)).astype(np.float32)
    return Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8), mode="L")
