"""Property tests of the catalog and policy parsers: whatever a file holds (generated documents, mutations of
the valid files in the repo, random text or bytes), reading it gives the document or the file type's one
error, every issue of which says FILE:LINE:COL inside the file; never any other exception."""

from __future__ import annotations

import os
import re
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas_mlplugin.catalog import CatalogError, load_catalog, parse_catalog
from atlas_mlplugin.licenses import LicenseCatalog
from atlas_mlplugin.model import ConsentRecordSpec, DataLicense, DatasetSpec, DerivationSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.policy.rules import Condition, Override, PolicyError, Rule, When, load_policy, parse_policy
from atlas_mlplugin.yamlfile import YamlFileError

ROOT = Path(__file__).resolve().parents[2]
FILE = "generated.yaml"
LICENSES = LicenseCatalog.from_csv()
# Relative names and local paths are taken relative to an empty folder: nothing there to find by chance.
BASE = Path(tempfile.mkdtemp(prefix="parser-properties-"))

EXAMPLE_CATALOG = (ROOT / "examples" / "catalog.yaml").read_text("utf-8")
DEFAULT_POLICY = resources.files("atlas_mlplugin.policy").joinpath("default_policy.yaml").read_text("utf-8")
_DOC_POLICY = re.search(r"```yaml\n(.*?)```", (ROOT / "docs" / "policy.md").read_text("utf-8"), flags=re.S)
assert _DOC_POLICY
DOC_POLICY = _DOC_POLICY.group(1)

# YAML counts these as line breaks; the highest line an issue may name is past the last of them.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")

# Kept small for the unit suite; PARSER_EXAMPLES=5000 searches much harder (minutes).
EXAMPLES = int(os.environ.get("PARSER_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def catalog(text: str) -> None:
    parse_catalog(text, file=FILE, catalog=LICENSES, base_dir=BASE)


def policy(text: str) -> None:
    parse_policy(text, file=FILE)


PARSERS = {"catalog": (catalog, CatalogError), "policy": (policy, PolicyError)}


def assert_loads_or_says_where(kind: str, text: str) -> None:
    parse, error = PARSERS[kind]
    try:
        parse(text)
    except error as exc:
        assert_positioned(exc, FILE, len(_LINE_BREAK.findall(text)) + 2)


def assert_positioned(exc: YamlFileError, file: str, max_line: int) -> None:
    assert exc.issues, "an error without issues"
    for issue in exc.issues:
        assert issue.file == file
        assert 1 <= issue.line <= max_line and issue.column >= 1, issue
        assert issue.message.strip(), issue
        assert str(issue).startswith(f"{file}:{issue.line}:{issue.column}: ")


# --------------------------------------------------------------------------------------------------
# generated documents

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30), st.dates(),
    st.datetimes(), st.sampled_from(["", "1.0", "yes", "~", "CC-BY-4.0", "file:///data/a", "./rel", "model-training",
                                     "$context.purpose", "$context.nope", "{source}", "{nope}", "BLOCK", "public"]))
KEYS = st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none(), st.dates())
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
                      max_leaves=8)


def fields_of(*models: Any) -> list[str]:
    return sorted({field.alias or name for model in models for name, field in model.model_fields.items()})


def entries(*models: Any) -> st.SearchStrategy[list[dict[Any, Any]]]:
    """Lists of mappings keyed mostly by the fields of `models`, so validation goes deep into them."""
    keys = st.sampled_from(fields_of(*models)) | KEYS
    return st.lists(st.dictionaries(keys, VALUES, max_size=6), max_size=2)


CATALOG_DOCS = st.fixed_dictionaries({"version": st.sampled_from([1, 2, "1", None])}, optional={
    "licenses": entries(DataLicense),
    "consent_records": entries(ConsentRecordSpec),
    "datasets": entries(DatasetSpec),
    "derivations": entries(DerivationSpec, DatasetSpec),
    "models": entries(ModelSpec),
    "training_runs": entries(TrainingRunSpec, ModelSpec),
    "extra": VALUES,
})
POLICY_DOCS = st.fixed_dictionaries({"version": st.sampled_from([1, 2, None])}, optional={
    "extends": st.sampled_from(["default", "other", None]),
    "overrides": entries(Override),
    "rules": entries(Rule, When, Condition),
    "extra": VALUES,
})


def dump(document: Any, flow: bool, unicode: bool) -> str:
    return yaml.safe_dump(document, default_flow_style=flow, allow_unicode=unicode, sort_keys=False)


@SETTINGS
@given(document=CATALOG_DOCS, flow=st.booleans(), unicode=st.booleans())
def test_generated_catalogs_load_or_say_where(document: dict[str, Any], flow: bool, unicode: bool) -> None:
    assert_loads_or_says_where("catalog", dump(document, flow, unicode))


@SETTINGS
@given(document=POLICY_DOCS, flow=st.booleans(), unicode=st.booleans())
def test_generated_policies_load_or_say_where(document: dict[str, Any], flow: bool, unicode: bool) -> None:
    assert_loads_or_says_where("policy", dump(document, flow, unicode))


@SETTINGS
@given(kind=st.sampled_from(sorted(PARSERS)), document=VALUES)
def test_any_yaml_value_loads_or_says_where(kind: str, document: Any) -> None:
    assert_loads_or_says_where(kind, dump(document, False, True))


# --------------------------------------------------------------------------------------------------
# the valid files of the repo, changed here and there

VALID = {"catalog": [EXAMPLE_CATALOG], "policy": [DEFAULT_POLICY, DOC_POLICY]}
# Characters that change YAML's structure, and some that should not be in a name.
YAML_TEXT = st.text(alphabet=st.sampled_from(list("[]{}:,-?&*!|>'\"#%@` \n\t\\") + ["\0", "\u202e", "\x85", "a",
                                                                                   "1", "\u00e9"]), max_size=12)


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """`text` with up to four edits: a line deleted, repeated, swapped or re-indented; characters inserted,
    replaced or cut off."""
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["delete", "repeat", "swap", "indent", "dedent", "insert", "replace", "cut"]))
        if edit == "delete":
            del lines[i]
        elif edit == "repeat":
            lines.insert(i, lines[i])
        elif edit == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif edit == "indent":
            lines[i] = " " * draw(st.integers(1, 4)) + lines[i]
        elif edit == "dedent":
            lines[i] = lines[i].lstrip()
        if edit in ("insert", "replace", "cut"):
            piece = draw(YAML_TEXT)
            text = text[:at] + piece + text[at + (1 if edit == "replace" else 0):] if edit != "cut" else text[:at]
        else:
            text = "\n".join(lines)
    return text


@SETTINGS
@given(data=st.data())
def test_mutated_valid_files_load_or_say_where(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(VALID)))
    text = data.draw(mutated(data.draw(st.sampled_from(VALID[kind]))))
    assert_loads_or_says_where(kind, text)


@st.composite
def with_a_value_replaced(draw: st.DrawFn, text: str) -> Any:
    """The document of `text` with one value somewhere in it replaced by a generated one."""
    document = yaml.safe_load(text)
    node = document
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return document
        key = draw(st.sampled_from(keys))
        if not isinstance(node[key], (dict, list)) or draw(st.integers(0, 2)) == 0:
            node[key] = draw(VALUES)
            return document
        node = node[key]


@SETTINGS
@given(data=st.data())
def test_valid_files_with_a_value_replaced_load_or_say_where(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(VALID)))
    document = data.draw(with_a_value_replaced(data.draw(st.sampled_from(VALID[kind]))))
    assert_loads_or_says_where(kind, dump(document, data.draw(st.booleans()), True))


# --------------------------------------------------------------------------------------------------
# random text and bytes


@SETTINGS
@given(kind=st.sampled_from(sorted(PARSERS)), text=st.text(max_size=200) | YAML_TEXT.map(lambda t: "version: 1\n" + t))
def test_random_text_loads_or_says_where(kind: str, text: str) -> None:
    assert_loads_or_says_where(kind, text)


@SETTINGS
@given(kind=st.sampled_from(sorted(PARSERS)), raw=st.binary(max_size=200))
def test_random_bytes_in_a_file_load_or_say_where(kind: str, raw: bytes) -> None:
    path = BASE / "random.yaml"
    path.write_bytes(raw)
    load = {"catalog": lambda p: load_catalog(p, catalog=LICENSES), "policy": load_policy}[kind]
    error = {"catalog": CatalogError, "policy": PolicyError}[kind]
    try:
        load(path)
    except error as exc:
        assert_positioned(exc, str(path), raw.count(b"\n") + raw.count(b"\r") + 2)
