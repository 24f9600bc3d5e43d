"""Icons for our entity types in the Atlas UI, drawn here and installed into the unpacked webapp.

The UI shows `img/entity-icon/<typeName>.png` for an entity (`disabled/<typeName>.png` once it is deleted),
falls back to `<serviceType>.png`, and asks the server for it each time; without ours an officer sees a
404 and a generic table icon for every dataset, model and release. Both UIs in the war (the classic one
at `/`, the newer one under `/n/`) have their own `img/` directory.

The pictures are simple shapes rasterised with signed distances and written as PNG with the standard
library only, so nothing with its own license is bundled and the container image needs no extra package.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.scrubbing import logger

log = logger(__name__)

WIDTH, HEIGHT = 144, 128  # the size of the icons Atlas ships, so ours sit alike in the lineage graph
SERVICE_TYPE = "ml_governance"
# Bump when a picture changes: installed icons carry it, so a webapp with older ones gets the new ones.
ICONS_VERSION = "2"  # 2: ml_release_finding
MARKER = ".atlas-ml-icons"

Rgba = tuple[int, int, int, int]
Distance = Callable[[float, float], float]  # negative inside the shape, in pixels
WHITE: Rgba = (255, 255, 255, 255)


# --- shapes: signed distance functions -------------------------------------------------------------------
def circle(cx: float, cy: float, r: float) -> Distance:
    return lambda x, y: math.hypot(x - cx, y - cy) - r


def ring(cx: float, cy: float, r: float, width: float) -> Distance:
    return lambda x, y: abs(math.hypot(x - cx, y - cy) - r) - width / 2


def ellipse(cx: float, cy: float, rx: float, ry: float) -> Distance:
    # Not exact away from the outline, but exact enough where antialiasing looks (within a pixel of it).
    return lambda x, y: (math.hypot((x - cx) / rx, (y - cy) / ry) - 1) * min(rx, ry)


def box(x0: float, y0: float, x1: float, y1: float, radius: float = 0.0) -> Distance:
    cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 - radius, (y1 - y0) / 2 - radius

    def d(x: float, y: float) -> float:
        qx, qy = abs(x - cx) - hx, abs(y - cy) - hy
        return math.hypot(max(qx, 0), max(qy, 0)) + min(max(qx, qy), 0) - radius
    return d


def segment(x0: float, y0: float, x1: float, y1: float, width: float) -> Distance:
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy

    def d(x: float, y: float) -> float:
        t = max(0.0, min(1.0, ((x - x0) * dx + (y - y0) * dy) / length2))
        return math.hypot(x - x0 - t * dx, y - y0 - t * dy) - width / 2
    return d


def polygon(points: list[tuple[float, float]]) -> Distance:
    def d(x: float, y: float) -> float:
        best, inside = math.inf, False
        for (ax, ay), (bx, by) in zip(points, points[1:] + points[:1], strict=True):
            ex, ey = bx - ax, by - ay
            t = max(0.0, min(1.0, ((x - ax) * ex + (y - ay) * ey) / (ex * ex + ey * ey)))
            best = min(best, math.hypot(x - ax - t * ex, y - ay - t * ey))
            if (ay > y) != (by > y) and x < ax + (y - ay) * ex / ey:
                inside = not inside
        return -best if inside else best
    return d


def union(*shapes: Distance) -> Distance:
    return lambda x, y: min(s(x, y) for s in shapes)


# --- pictures ---------------------------------------------------------------------------------------------
CX, CY, R = WIDTH / 2, HEIGHT / 2, 58.0


@dataclass(frozen=True)
class Icon:
    color: Rgba
    layers: tuple[tuple[Distance, Rgba], ...]  # painted in order over the coloured disc


def _icon(color: Rgba, *layers: tuple[Distance, Rgba]) -> Icon:
    return Icon(color, ((circle(CX, CY, R), color), *layers))


def _document(color: Rgba) -> list[tuple[Distance, Rgba]]:
    return [(box(50, 26, 94, 100, 4), WHITE)] + [(segment(58, y, 86, y, 4), color) for y in (40, 50, 60)]


def _pictures() -> dict[str, Icon]:
    blue, violet, teal, orange = (41, 98, 168, 255), (111, 66, 160, 255), (0, 128, 120, 255), (214, 110, 20, 255)
    green, slate, amber, red = (46, 125, 50, 255), (69, 90, 100, 255), (180, 130, 0, 255), (176, 42, 48, 255)
    cylinder = union(ellipse(CX, 42, 28, 10), box(CX - 28, 42, CX + 28, 88), ellipse(CX, 88, 28, 10))
    nodes = [(46, 44), (46, 84), (72, 34), (72, 64), (72, 94), (98, 64)]
    edges = [(a, b) for a in nodes[:2] for b in nodes[2:5]] + [(b, nodes[5]) for b in nodes[2:5]]
    star = [(CX + (30 if i % 2 == 0 else 12) * math.sin(i * math.pi / 5),
             CY - (30 if i % 2 == 0 else 12) * math.cos(i * math.pi / 5)) for i in range(10)]
    return {
        n.ML_DATASET: _icon(blue, (cylinder, WHITE), (segment(CX - 28, 56, CX + 28, 56, 3), blue),
                            (segment(CX - 28, 72, CX + 28, 72, 3), blue)),
        n.ML_MODEL: _icon(violet, *[(segment(*a, *b, 3), WHITE) for a, b in edges],
                          *[(circle(x, y, 8), WHITE) for x, y in nodes]),
        n.ML_TRAINING_RUN: _icon(teal, (ring(CX, CY, 30, 8), WHITE),
                                 (polygon([(62, 48), (62, 80), (88, 64)]), WHITE)),
        n.ML_RELEASE: _icon(orange, (polygon([(CX, 26), (96, 58), (82, 58), (82, 84), (62, 84), (62, 58),
                                              (48, 58)]), WHITE), (box(44, 92, 100, 100, 2), WHITE)),
        n.ML_RELEASE_FINDING: _icon(orange, *_document(orange)[:1], (segment(72, 40, 72, 72, 8), orange),
                                    (circle(72, 88, 5), orange)),
        n.ML_DATA_LICENSE: _icon(slate, *_document(slate), (circle(86, 90, 14), WHITE),
                                 (circle(86, 90, 9), amber)),
        n.ML_CONSENT_RECORD: _icon(green, *_document(green),
                                   (union(segment(60, 82, 70, 92, 6), segment(70, 92, 88, 70, 6)), green)),
        n.ML_DERIVATION: _icon(amber, (union(segment(44, 64, 70, 64, 8), segment(70, 64, 94, 40, 8),
                                             segment(70, 64, 94, 88, 8)), WHITE),
                               (circle(44, 64, 10), WHITE), (circle(98, 38, 9), WHITE), (circle(98, 90, 9), WHITE)),
        n.ML_SPARK_PROCESS: _icon(red, (polygon(star), WHITE)),
        # An evaluation: a magnifying glass with a check mark (the model was tested, the version certified).
        n.ML_EVALUATION_RUN: _icon(teal, (ring(66, 58, 22, 7), WHITE), (segment(82, 74, 98, 92, 9), WHITE),
                                   (union(segment(56, 58, 63, 66, 5), segment(63, 66, 77, 50, 5)), WHITE)),
        SERVICE_TYPE: _icon(slate, (polygon([(CX, 28), (98, 40), (94, 76), (CX, 102), (50, 76), (46, 40)]), WHITE),
                            (union(segment(60, 64, 69, 74, 6), segment(69, 74, 86, 52, 6)), slate)),
    }


ICONS: dict[str, Icon] = _pictures()


# --- rendering --------------------------------------------------------------------------------------------
def render(icon: Icon, *, disabled: bool = False) -> bytes:
    """The icon as PNG bytes; `disabled` (a deleted entity) is grey and faded, as Atlas's own are."""
    raw = bytearray()
    for row in _pixels(icon):
        raw.append(0)  # no PNG filter
        for r, g, b, a in row:
            if disabled:
                r = g = b = 0.3 * r + 0.59 * g + 0.11 * b
                a *= 0.5
            raw += bytes((round(r), round(g), round(b), round(a * 255)))
    return _png(WIDTH, HEIGHT, bytes(raw))


@lru_cache(maxsize=32)  # a second or two of pure Python per set of pictures: draw each once per process
def _pixels(icon: Icon) -> tuple[tuple[tuple[float, float, float, float], ...], ...]:
    """Straight (not premultiplied) RGB in 0..255 and alpha in 0..1, the layers painted over each other."""
    rows = []
    for y in range(HEIGHT):
        row = []
        for x in range(WIDTH):
            r, g, b, a = 0.0, 0.0, 0.0, 0.0
            for shape, (cr, cg, cb, ca) in icon.layers:
                coverage = min(1.0, max(0.0, 0.5 - shape(x + 0.5, y + 0.5))) * ca / 255
                if coverage:
                    r, g, b = (v * a * (1 - coverage) + c * coverage for v, c in ((r, cr), (g, cg), (b, cb)))
                    a = a * (1 - coverage) + coverage
                    r, g, b = (v / a for v in (r, g, b)) if a else (0.0, 0.0, 0.0)
            row.append((r, g, b, a))
        rows.append(tuple(row))
    return tuple(rows)


def _png(width: int, height: int, raw_rgba: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, not interlaced
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw_rgba, 9)) + \
        chunk(b"IEND", b"")


# --- installing -------------------------------------------------------------------------------------------
def icon_dirs(webapp: Path) -> list[Path]:
    """The entity-icon directories of the UIs in an unpacked Atlas war (classic at /, newer under /n/)."""
    return [d for d in (webapp / "img" / "entity-icon", webapp / "n" / "img" / "entity-icon") if d.parent.is_dir()]


def install(webapp: Path, type_names: Iterable[str] | None = None) -> list[Path]:
    """Write our icons (and their disabled variants) into the webapp; a no-op when this version is there.

    Returns the files written. Atlas serves the webapp's static files from disk, so a running server shows
    them without a restart.
    """
    names = list(type_names) if type_names is not None else list(ICONS)
    dirs = icon_dirs(webapp)
    pending = [d for d in dirs if not _current(d)]
    if not pending:
        return []
    pictures = {name: (render(ICONS[name]), render(ICONS[name], disabled=True)) for name in names}
    written: list[Path] = []
    for directory in pending:
        (directory / "disabled").mkdir(parents=True, exist_ok=True)
        for name, (normal, disabled) in pictures.items():
            for path, data in ((directory / f"{name}.png", normal), (directory / "disabled" / f"{name}.png", disabled)):
                path.write_bytes(data)
                written.append(path)
        (directory / MARKER).write_text(ICONS_VERSION)
    log.info("Installed %d icons for our types into %s", len(written), webapp)
    return written


def _current(directory: Path) -> bool:
    marker = directory / MARKER
    return marker.is_file() and marker.read_text().strip() == ICONS_VERSION
