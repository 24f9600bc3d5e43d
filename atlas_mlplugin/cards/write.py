"""Writing a release's licensing into an existing model card (`atlas-ml check ... --update-card PATH`).

The front matter's `license` (with `license_name`/`license_link` for a license the Hub has no id for),
`datasets` and `base_model` are set from Atlas with huggingface_hub's card classes, which keep the other keys
and their order; the Markdown section between the atlas-ml markers is replaced, or appended when the card has
none. The rest of the body is kept as it is. Read back by `atlas-ml import card`, the card gives the same
entities: the section's facts and the front matter agree.
"""

from __future__ import annotations

from pathlib import Path

from atlas_mlplugin.cards.licenses import hf_license_fields
from atlas_mlplugin.cards.licensing import ReleaseLicensing
from atlas_mlplugin.cards.read import CardError, hub_cards, read_card
from atlas_mlplugin.licenses.catalog import LicenseCatalog
from atlas_mlplugin.policy.render import MODEL_CARD_END, MODEL_CARD_START
from atlas_mlplugin.yamlfile import read_text


def update_card(path: Path, licensing: ReleaseLicensing, section: str, catalog: LicenseCatalog) -> None:
    """Write the licensing front matter and `section` into the model card at `path`."""
    _, ModelCard, _ = hub_cards()  # noqa: N806 - the library's class name
    path = path / "README.md" if path.is_dir() else path
    read_card(path, kind="model")  # a card that cannot be read is reported at its FILE:LINE, not overwritten
    card = ModelCard(read_text(path, CardError))
    data = card.data
    if licensing.license:
        for key in ("license", "license_name", "license_link"):
            setattr(data, key, None)  # a stale license_name must not outlive a change to a Hub license id
        for key, value in hf_license_fields(licensing.license, catalog).items():
            setattr(data, key, value)
    datasets = [w.hf_repo_id for w in licensing.direct("dataset") if w.hf_repo_id]
    if datasets:
        data.datasets = datasets
    base = [w.hf_repo_id for w in licensing.direct("model") if w.hf_repo_id]
    if base:
        data.base_model = base[0] if len(base) == 1 else base
    card.text = replace_section(card.text, section)
    card.save(path)


def replace_section(body: str, section: str) -> str:
    """`body` with the generated section replaced (between the markers), or appended after a blank line."""
    start, end = body.find(MODEL_CARD_START), body.find(MODEL_CARD_END)
    if start != -1 and end > start:
        return body[:start] + section.rstrip("\n") + body[end + len(MODEL_CARD_END):]
    return body.rstrip("\n") + "\n\n" + section
