"""Our entity types get icons in the Atlas UI: the launcher installs them into the unpacked war."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.typedefs import BASE_DIR_NAME, default_typedefs_dir, load_documents
from atlas_mlplugin.server import icons
from atlas_mlplugin.server.launcher import LauncherOptions, LocalAtlas


def our_entity_types() -> list[str]:
    docs, _ = load_documents(default_typedefs_dir())
    return [item["name"] for doc in docs if doc.path.parent.name != BASE_DIR_NAME for item in doc.defs["entityDefs"]]


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered RGBA rows of the PNGs we write (one IDAT, filter 0)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 6)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + 4 * width
    return width, height, [raw[i * stride + 1:(i + 1) * stride] for i in range(height)]


def fake_webapp(root: Path) -> Path:
    for ui in (root / "img" / "entity-icon", root / "n" / "img" / "entity-icon"):
        ui.mkdir(parents=True)
        (ui / "DataSet.png").write_bytes(b"Atlas's own")
    return root


def test_every_entity_type_of_ours_has_an_icon() -> None:
    assert set(our_entity_types()) <= set(icons.ICONS), "a new type needs a picture in server/icons.py"


def test_install_writes_a_png_per_type_for_both_uis_and_deleted_entities(tmp_path: Path) -> None:
    webapp = fake_webapp(tmp_path)
    icons.install(webapp)
    for ui in (webapp / "img" / "entity-icon", webapp / "n" / "img" / "entity-icon"):
        for name in [*our_entity_types(), icons.SERVICE_TYPE]:
            for path in (ui / f"{name}.png", ui / "disabled" / f"{name}.png"):
                width, height, rows = decode_png(path.read_bytes())
                assert (width, height) == (144, 128)
                centre = rows[height // 2][4 * (width // 2):4 * (width // 2) + 4]
                corner = rows[0][:4]
                assert centre[3] > 0 and corner[3] == 0, f"{path} is not a picture on a transparent ground"
        assert (ui / "DataSet.png").read_bytes() == b"Atlas's own"


def test_the_pictures_differ_per_type(tmp_path: Path) -> None:
    pictures = {name: icons.render(icon) for name, icon in icons.ICONS.items()}
    assert len(set(pictures.values())) == len(pictures)


def test_install_is_done_once_per_icons_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    webapp = fake_webapp(tmp_path)
    assert icons.install(webapp)
    assert icons.install(webapp) == []
    monkeypatch.setattr(icons, "ICONS_VERSION", icons.ICONS_VERSION + "-next")
    assert icons.install(webapp), "changed pictures must reach webapps that have the old ones"


def test_prepare_installs_the_icons_into_the_unpacked_war(tmp_path: Path) -> None:
    war = tmp_path / "atlas-webapp-test.war"
    with zipfile.ZipFile(war, "w") as zf:
        zf.writestr("WEB-INF/lib/placeholder.txt", "")
        zf.writestr("img/entity-icon/DataSet.png", b"Atlas's own")
        zf.writestr("n/img/entity-icon/DataSet.png", b"Atlas's own")
    atlas = LocalAtlas(LauncherOptions(state_dir=tmp_path / "state", download_dir=tmp_path / "downloads", war=war,
                                       webapp=None))
    _, webapp = atlas.prepare(progress=lambda _msg: None)
    assert decode_png((webapp / "img" / "entity-icon" / "ml_dataset.png").read_bytes())[:2] == (144, 128)
    assert (webapp / "n" / "img" / "entity-icon" / "ml_model.png").is_file()
