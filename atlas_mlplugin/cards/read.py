"""Reading a local Hugging Face model or dataset card (README.md with YAML front matter) into `CardFacts`.

The card is parsed by huggingface_hub's own card classes (ModelCard / DatasetCard), from the text of the
local file: `RepoCard.load` would treat a path that does not exist as a Hub repo id and go to the network,
which an import must never do. What the card classes accept loosely (a string or a list, anything in
`tags`) is then checked with pydantic, and every problem is reported as FILE:LINE, the line found in the
YAML block's node tree and shifted by the block's place in the file.

Which repository a card describes (its repo id, the name in Atlas) is, in order: `--repo-id`; the Hub cache
layout the file sits in (`models--org--name/snapshots/<rev>/README.md`, `datasets--org--name/...`); the
folder holding a README.md (a local clone is named after the repo); the file's stem for any other name.
The card's `model_name` is only the display name: on the Hub it is the short name, without the org.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from atlas_mlplugin.errors import AtlasMlError
from atlas_mlplugin.yamlfile import YamlFileError, YamlIssue, loc_to_path, locate, read_text, value_message

CardKind = Literal["model", "dataset"]

# Keys only a dataset card has (the Hub's dataset card metadata) and keys only a model card has.
DATASET_KEYS = frozenset({"task_categories", "task_ids", "size_categories", "pretty_name", "annotations_creators",
                          "language_creators", "multilinguality", "source_datasets", "paperswithcode_id", "configs",
                          "dataset_info", "train-eval-index", "viewer"})
MODEL_KEYS = frozenset({"base_model", "base_model_relation", "model-index", "pipeline_tag", "library_name",
                        "datasets", "model_name", "inference", "widget"})
_CACHE_DIR = re.compile(r"^(models|datasets)--(.+)$")


class CardError(YamlFileError):
    """A card cannot be read: not found, malformed front matter, or metadata of the wrong shape."""


class CardUsageError(AtlasMlError, ValueError):
    """The card can be read but not imported as asked (its kind cannot be told, its repo id is invalid)."""


def _as_list(value: Any) -> Any:
    # The Hub accepts `license: mit` and `license: [mit]`, `base_model: a` and `base_model: [a, b]`.
    return [value] if isinstance(value, str) else ([] if value is None else value)


class CardMetadata(BaseModel):
    """The front matter keys an import reads, in the shapes the Hub documents; other keys are kept aside."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    license: list[str] = Field(default_factory=list)
    license_name: str | None = None
    license_link: str | None = None
    datasets: list[str] = Field(default_factory=list)
    base_model: list[str] = Field(default_factory=list)
    base_model_relation: Literal["adapter", "merge", "quantized", "finetune"] | None = None
    language: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    pipeline_tag: str | None = None
    library_name: str | None = None
    model_name: str | None = None
    pretty_name: str | None = None
    task_categories: list[str] = Field(default_factory=list)

    @field_validator("license", "datasets", "base_model", "language", "tags", "task_categories", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return _as_list(value)


class CardFacts(BaseModel):
    """What one card says, with the file line of each key (for messages)."""

    model_config = ConfigDict(frozen=True)
    path: Path
    kind: CardKind
    repo_id: str
    metadata: CardMetadata
    lines: dict[str, int] = Field(default_factory=dict, description="front matter key -> line in the file")

    def where(self, key: str | None = None) -> str:
        """FILE:LINE of a key (the file's first line when the key is absent)."""
        return f"{self.path}:{self.lines.get(key or '', 1)}"


def read_card(path: Path, *, kind: CardKind | None = None, repo_id: str | None = None) -> CardFacts:
    """Parse the card at `path` (a README.md or a folder holding one). Raises CardError naming FILE:LINE."""
    DatasetCard, ModelCard, REGEX_YAML_BLOCK = hub_cards()  # noqa: N806 - the library's class names
    path = path / "README.md" if path.is_dir() else path
    if not path.is_file():
        raise CardError([YamlIssue(str(path), 1, 1, "", "no such card file; give the path of a README.md with YAML "
                                                        "front matter, or of the folder holding it")])
    text = read_text(path, CardError)
    match = REGEX_YAML_BLOCK.search(text)
    if match is None:
        raise CardError([YamlIssue(str(path), 1, 1, "", "the card has no YAML front matter (a block between "
                                                        "'---' lines at the top); nothing to import. Add at least "
                                                        "`license:`")])
    offset = text[:match.start(2)].count("\n")  # file lines before the YAML block
    root = _compose(match.group(2), path, offset)
    raw = yaml.safe_load(match.group(2))  # composed above: it parses
    kind = kind or _kind_of(path, raw)
    try:
        # The Hub's own parser and card data classes, as the Hub reads the card.
        card = (DatasetCard if kind == "dataset" else ModelCard)(text)
    except ValueError as exc:
        raise CardError([YamlIssue(str(path), offset + 1, 1, "", f"{exc}; fix the front matter")]) from None
    data = card.data.to_dict()
    lines = {str(k.value): k.start_mark.line + 1 + offset for k, _ in getattr(root, "value", [])
             if isinstance(k, yaml.ScalarNode)}
    try:
        metadata = CardMetadata.model_validate(data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            line, column = locate(root, tuple(err["loc"]))
            issues.append(YamlIssue(str(path), line + offset, column, loc_to_path(tuple(err["loc"])),
                                    value_message(err)))
        raise CardError(issues) from None
    return CardFacts(path=path, kind=kind, repo_id=repo_id or repo_id_of(path), metadata=metadata, lines=lines)


def hub_cards() -> tuple[Any, Any, re.Pattern[str]]:
    """huggingface_hub's DatasetCard, ModelCard and front matter pattern; an error saying how to install it."""
    try:
        from huggingface_hub import DatasetCard, ModelCard
        from huggingface_hub.repocard import REGEX_YAML_BLOCK
    except ImportError:
        raise CardUsageError("reading Hugging Face cards needs huggingface_hub: pip install 'atlas-mlplugin[hf]'"
                             ) from None
    return DatasetCard, ModelCard, REGEX_YAML_BLOCK


def _compose(block: str, path: Path, offset: int) -> yaml.Node:
    try:
        root = yaml.compose(block, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise CardError([_yaml_issue(exc, path, offset)]) from None
    if root is None:
        raise CardError([YamlIssue(str(path), offset + 1, 1, "", "the front matter is empty; nothing to import. "
                                                                  "Add at least `license:`")])
    if not isinstance(root, yaml.MappingNode):
        raise CardError([YamlIssue(str(path), root.start_mark.line + 1 + offset, 1, "",
                                   "the front matter must be key: value lines (a mapping), not a list or text")])
    return root


def _yaml_issue(exc: yaml.YAMLError, path: Path, offset: int) -> YamlIssue:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML in the front matter: {problem}" + (f" ({context})" if context else "")
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return YamlIssue(str(path), line + offset, column, "", message)


def _kind_of(path: Path, data: dict[str, Any]) -> CardKind:
    cached = _cache_layout(path)
    if cached is not None:
        return cached[0]
    dataset, model = DATASET_KEYS & data.keys(), MODEL_KEYS & data.keys()
    if dataset and not model:
        return "dataset"
    if model and not dataset:
        return "model"
    why = (f"it has both dataset keys ({', '.join(sorted(dataset))}) and model keys ({', '.join(sorted(model))})"
           if dataset else "its front matter has no key that only a model card or only a dataset card has")
    raise CardUsageError(f"{path}: cannot tell whether this is a model card or a dataset card: {why}; "
                         "say which with --kind model or --kind dataset")


def _cache_layout(path: Path) -> tuple[CardKind, str] | None:
    """(kind, repo id) when the card sits in the Hub cache: models--org--name/snapshots/<revision>/README.md."""
    parts = path.resolve().parts
    if len(parts) >= 4 and parts[-3] == "snapshots":
        match = _CACHE_DIR.match(parts[-4])
        if match:
            return ("model" if match.group(1) == "models" else "dataset"), match.group(2).replace("--", "/")
    return None


def repo_id_of(path: Path) -> str:
    """The repo id a card's place on disk implies (see the module's docstring)."""
    cached = _cache_layout(path)
    if cached is not None:
        return cached[1]
    return path.resolve().parent.name if path.name.lower() == "readme.md" else path.stem
