"""The release-risk policy as data: rules over a model's tags and the release context.

The default rules live in default_policy.yaml; a user file may `extends: default`, change the severity of
default rules by id (`overrides`) and add rules. Every problem in a file is reported as
FILE:LINE:COL: field: message by the YAML loader catalog files use too (atlas_mlplugin/yamlfile.py).
"""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from atlas_mlplugin.atlas.typedefs import default_typedefs_dir
from atlas_mlplugin.policy.model import Audience, ReleaseContext, Severity, Shipped
from atlas_mlplugin.purposes import UnknownPurposeError, canonical_purpose
from atlas_mlplugin.yamlfile import Loc, YamlFileError, YamlFormat, YamlIssue, parse, read_text

DEFAULT = "default"
CONTEXT_REF = "$context."
# What a message or remedy may name; {attr.<name>} names an attribute of the tag.
PLACEHOLDERS = frozenset({"source", "license", "tag", "audience", "purpose", "model"})
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")

# Tag attributes that hold purposes: literal values tested against them must be known purposes, and are
# compared as canonical terms (a stored `research` and a policy's `research-and-development` are one purpose).
PURPOSE_ATTRIBUTES = frozenset({"purposes", "excludedPurposes"})
# Operators that match purposes through the taxonomy (docs/policy.md, "Purposes").
PURPOSE_OPERATORS = ("covers", "not_covers", "overlaps")

# A policy problem has the same shape as a catalog problem: file, line, column, field, message.
PolicyIssue = YamlIssue

# Where a rule's tags come from: what the model was built from, or the data it was evaluated on.
Via = Literal["training", "evaluation"]

T = TypeVar("T")


def _listify(value: Any) -> Any:
    # `tag: NonCommercial` and `tag: [NonCommercial]` mean the same; wrapping before validation keeps
    # error locations free of pydantic's union branch names.
    return [value] if value is not None and not isinstance(value, list) else value


OneOrMany = Annotated[list[T], BeforeValidator(_listify), Field(min_length=1)]


class Condition(BaseModel):
    """Tests on one attribute of a tag; every operator given must hold. A value `$context.<field>` stands
    for that field of the release context; when the context leaves it unset, the test does not hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    contains: Any = Field(default=None, description="the (list) attribute contains the value")
    not_contains: Any = Field(default=None, description="the (list) attribute lacks the value; a missing "
                                                        "attribute contains nothing")
    covers: Any = Field(default=None, description="the (list) attribute holds this purpose or a broader one, "
                                                  "e.g. consent to research covers academic research; a list: "
                                                  "each of these purposes")
    not_covers: Any = Field(default=None, description="the (list) attribute holds neither this purpose nor a "
                                                      "broader one; a missing attribute covers nothing; a list: "
                                                      "none of these purposes")
    overlaps: Any = Field(default=None, description="the (list) attribute holds this purpose, a broader or a "
                                                    "narrower one")
    exists: bool | None = None
    missing: bool | None = None

    @field_validator(*PURPOSE_OPERATORS)
    @classmethod
    def _known_purpose(cls, value: Any, info: ValidationInfo) -> Any:
        # covers / not_covers take a list too: consent that must cover both model training and the
        # release's purpose is one test (`covers: [model-training, $context.purpose]`), not two keys.
        if isinstance(value, list) and info.field_name != "overlaps" and value:
            return [cls._one_purpose(v) for v in value]
        return cls._one_purpose(value)

    @staticmethod
    def _one_purpose(value: Any) -> Any:
        # A misspelt purpose here would never match: `not_covers: modle-training` fires on every consent.
        if isinstance(value, str) and value.startswith(CONTEXT_REF) and value != CONTEXT_REF + "purpose":
            raise ValueError(f"{value!r} is not a purpose; this operator compares purposes: give one, "
                             f"or {CONTEXT_REF}purpose")
        if isinstance(value, str) and not value.startswith(CONTEXT_REF):
            return canonical_purpose(value)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"give a purpose (or $context.purpose), or for covers / not_covers a non-empty "
                             f"list of them, not {value!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if not isinstance(data, dict):  # `purposes: model-training` forgets the operator
            raise ValueError(f"give the test as operator: value, e.g. {{equals: {data!r}}}; operators: "
                             f"{', '.join(operator_names())}")
        return data

    @model_validator(mode="after")
    def _some_operator(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError(f"give at least one operator: {', '.join(operator_names())}")
        for value in (self.equals, self.contains, self.not_contains, *_as_values(self.covers),
                      *_as_values(self.not_covers), self.overlaps, *(self.in_ or [])):
            if isinstance(value, str) and value.startswith(CONTEXT_REF) \
                    and value.removeprefix(CONTEXT_REF) not in ReleaseContext.model_fields:
                known = ", ".join(CONTEXT_REF + name for name in ReleaseContext.model_fields)
                raise ValueError(f"unknown context value {value!r}; use one of {known}")
        return self


def _as_values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def operator_names() -> list[str]:
    return [field.alias or name for name, field in Condition.model_fields.items()]


class When(BaseModel):
    """Conditions on the release context; all given must hold. A list of values means any of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    audience: OneOrMany[Audience] | None = None
    commercial: bool | None = None
    ships: OneOrMany[Shipped] | None = Field(default=None, description="the release ships any of these")
    purpose: OneOrMany[str] | None = Field(default=None, description="the release's purpose is one of these "
                                                                     "or narrower than one of them")

    @field_validator("purpose")
    @classmethod
    def _known_purposes(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else [canonical_purpose(v) for v in values]


class SourceTag(BaseModel):
    """A test on the other tags of the dataset a finding's tag came from: one of them is of a type in `tag`
    and its attributes match `attributes` (a list: any of these sets). How a rule sees a mitigating fact
    recorded as another tag, e.g. the consent (ConsentScope) under which personal data was collected."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tag: OneOrMany[str] = Field(description="classification type name(s) of the other tag")
    attributes: OneOrMany[dict[str, Condition]] | None = Field(
        default=None, description="tests on that tag's attributes by name (a list: any of these sets)")


class Rule(BaseModel):
    """One finding to raise for each matching tag on the model."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    tag: OneOrMany[str] = Field(description="classification type name(s) the rule looks at")
    when: OneOrMany[When] | None = Field(default=None, description="release contexts it applies to "
                                                                   "(a list: any of them); none: every release")
    attributes: OneOrMany[dict[str, Condition]] | None = Field(
        default=None, description="tests on the tag's attributes by name (a list: any of these sets)")
    source_has: OneOrMany[SourceTag] | None = Field(
        default=None, description="the tag's source dataset also carries a tag matching one of these")
    source_lacks: OneOrMany[SourceTag] | None = Field(
        default=None, description="the tag's source dataset carries no tag matching any of these")
    via: Via = Field(default="training", description="which tags the rule looks at: `training` (default) the "
                     "model's own, from what it was built of; `evaluation` those of the data it was certified on "
                     "(docs/policy.md, \"Evaluation data\")")
    severity: Severity
    message: str = Field(min_length=1, description="what is wrong, with {source}, {license}, {tag}, "
                                                   "{audience}, {purpose}, {model}, {attr.<name>}")
    remedy: str | None = Field(default=None, description="what to do: the fix, or the obligation to meet")

    @field_validator("message", "remedy")
    @classmethod
    def _placeholders(cls, text: str | None) -> str | None:
        for name in PLACEHOLDER_RE.findall(text or ""):
            if name not in PLACEHOLDERS and not (name.startswith("attr.") and len(name) > 5):
                raise ValueError(f"unknown placeholder {{{name}}}; use {{attr.<name>}} or one of "
                                 + ", ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS)))
        return text


class Override(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    severity: Severity


class Policy(BaseModel):
    """A policy file. `load_policy` returns it resolved: `rules` are then the effective rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1]
    extends: Literal["default"] | None = None
    overrides: list[Override] = Field(default_factory=list, description="new severities for default rules")
    rules: list[Rule] = Field(default_factory=list)
    never_acceptable: list[str] | None = Field(
        default=None, description="ids of rules whose findings no acceptance may clear (RiskAccepted is "
                                  "ignored for them); unset in a file that extends default: the default's list")
    _name: str = PrivateAttr(default="inline")

    @property
    def name(self) -> str:
        """The file it came from, or 'default'; shown in reports."""
        return self._name

    @property
    def unacceptable(self) -> frozenset[str]:
        return frozenset(self.never_acceptable or ())


class PolicyError(YamlFileError):
    """The policy file is invalid; `issues` says where and why, one per problem."""


POLICY_FORMAT = YamlFormat(
    model=Policy, error=PolicyError,
    empty="the file is empty; a policy starts with `version: 1`",
    not_a_mapping="a policy is a mapping with version: 1, rules and optionally extends and overrides",
    key_noun=lambda model: "operator" if model is Condition else "field",
)


def load_policy(path: Path | str | None = None) -> Policy:
    """The policy in `path`, resolved against the default rules it extends; None: the default policy.
    Raises PolicyError listing every problem; OSError when the file cannot be read."""
    if path is None:
        return _default_policy()
    return parse_policy(read_text(Path(path), PolicyError), file=str(path))


def parse_policy(text: str, *, file: str = "<string>", name: str | None = None) -> Policy:
    """Like load_policy, for text already read. `file` is used in messages, `name` (default: file) in reports."""
    parsed = parse(text, file, POLICY_FORMAT)
    policy: Policy = parsed.value
    base = _default_policy() if policy.extends == DEFAULT else None
    issues = parsed.issues + [parsed.issue(loc, message) for loc, message in policy_problems(policy, base)]
    if issues:
        raise PolicyError(issues)
    resolved = resolve_policy(policy, base)
    resolved._name = name or file
    return resolved


def resolve_policy(policy: Policy, base: Policy | None = None) -> Policy:
    """The policy with the default rules it extends (severities overridden) ahead of its own rules."""
    if policy.extends is None:
        return policy
    base = base or _default_policy()
    severity = {o.id: o.severity for o in policy.overrides}
    if unknown := set(severity) - {r.id for r in base.rules}:
        raise ValueError(f"overrides name no default rule: {', '.join(sorted(unknown))}")
    rules = [r.model_copy(update={"severity": severity[r.id]}) if r.id in severity else r for r in base.rules]
    never = policy.never_acceptable if policy.never_acceptable is not None else base.never_acceptable
    resolved = Policy(version=1, rules=rules + list(policy.rules), never_acceptable=never)
    resolved._name = policy.name
    return resolved


@lru_cache(maxsize=1)
def _default_policy() -> Policy:
    resource = resources.files("atlas_mlplugin.policy").joinpath("default_policy.yaml")
    return parse_policy(resource.read_text("utf-8"), file=str(resource), name=DEFAULT)


@lru_cache(maxsize=1)
def known_tags() -> dict[str, frozenset[str]]:
    """Our classification types and their attribute names, from the typedefs; empty if those are absent
    (then names are not checked). Catches `tag: Noncommercial` or `attributes: {purpose: ...}`, which would
    otherwise never (or always) fire without a word."""
    try:
        root = default_typedefs_dir()
    except FileNotFoundError:
        return {}
    found: dict[str, frozenset[str]] = {}
    for path in sorted(root.rglob("*.json")):
        try:
            doc = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue  # `atlas-ml typedefs check` reports broken typedef files
        for cdef in doc.get("classificationDefs", []) if isinstance(doc, dict) else []:
            found[cdef["name"]] = frozenset(a["name"] for a in cdef.get("attributeDefs", []))
    return found


def policy_problems(policy: Policy, base: Policy | None) -> list[tuple[Loc, str]]:
    """What pydantic cannot see: ids, references to default rules, tag and attribute names."""
    problems: list[tuple[Loc, str]] = []
    base_ids = [r.id for r in base.rules] if base else []
    first: dict[str, int] = {}
    for i, rule in enumerate(policy.rules):
        if rule.id in first:
            problems.append((("rules", i, "id"),
                             f"duplicate rule id {rule.id!r}: already used by rules[{first[rule.id]}]"))
        elif rule.id in base_ids:
            problems.append((("rules", i, "id"), f"{rule.id!r} is a default rule; change its severity under "
                                                 "overrides:, or give this rule another id"))
        first.setdefault(rule.id, i)
        problems += _name_problems(("rules", i), rule) + _purpose_problems(("rules", i), rule.attributes)
        for field in ("source_has", "source_lacks"):
            for k, other in enumerate(getattr(rule, field) or []):
                problems += _name_problems(("rules", i, field, k), other)
                problems += _purpose_problems(("rules", i, field, k), other.attributes)
    known_ids = set(base_ids) | set(first)
    for i, rule_id in enumerate(policy.never_acceptable or []):
        if rule_id not in known_ids:
            close = difflib.get_close_matches(rule_id, sorted(known_ids), n=1, cutoff=0.6)
            problems.append((("never_acceptable", i), f"no rule {rule_id!r} in this policy" + (
                f"; did you mean {close[0]!r}?" if close else "; give the id of one of its rules")))
    if policy.overrides and base is None:
        problems.append((("overrides",), "overrides change default rules; add `extends: default`"))
        return problems
    seen: set[str] = set()
    for i, override in enumerate(policy.overrides):
        if override.id in seen:
            problems.append((("overrides", i, "id"), f"rule {override.id!r} is overridden twice"))
        elif override.id not in base_ids:
            close = difflib.get_close_matches(override.id, base_ids, n=1, cutoff=0.6)
            problems.append((("overrides", i, "id"), f"no default rule {override.id!r} to override" + (
                f"; did you mean {close[0]!r}?" if close else f"; default rules: {', '.join(base_ids)}")))
        seen.add(override.id)
    return problems


def _name_problems(loc: Loc, rule: Rule | SourceTag) -> list[tuple[Loc, str]]:
    known = known_tags()
    if not known:
        return []
    problems: list[tuple[Loc, str]] = []
    for j, tag in enumerate(rule.tag):
        # Unknown names are allowed (your own classifications); near-misses of ours are typos.
        close = [k for k in known if k.lower() == tag.lower()] or difflib.get_close_matches(tag, known, 1, 0.8)
        if tag not in known and close:
            problems.append(((*loc, "tag", j), f"unknown tag {tag!r}; did you mean {close[0]!r}?"))
    ours = [known[t] for t in rule.tag if t in known]
    if len(ours) < len(rule.tag):
        return problems  # a tag of yours: its attributes are not known here
    common = frozenset.intersection(*ours)
    for k, alternative in enumerate(rule.attributes or []):
        for name in alternative:
            if name not in common:
                problems.append(((*loc, "attributes", k, name), f"{' / '.join(rule.tag)} has no attribute "
                                                                f"{name!r}; it has: {', '.join(sorted(common))}"))
    for field in ("message", "remedy") if isinstance(rule, Rule) else ():
        for ref in PLACEHOLDER_RE.findall(getattr(rule, field) or ""):
            if ref.startswith("attr.") and ref[5:] not in common:
                problems.append(((*loc, field), f"{{{ref}}}: {' / '.join(rule.tag)} has no attribute {ref[5:]!r}; "
                                                f"it has: {', '.join(sorted(common))}"))
    return problems


def _purpose_problems(loc: Loc, attributes: list[dict[str, Condition]] | None) -> list[tuple[Loc, str]]:
    """Literal values tested against a purpose attribute must be known purposes: `contains: modle-training`
    on excludedPurposes would never hold, a false PASS nobody sees."""
    problems: list[tuple[Loc, str]] = []
    for k, alternative in enumerate(attributes or []):
        for name, condition in alternative.items():
            if name not in PURPOSE_ATTRIBUTES:
                continue
            for operator in ("equals", "contains", "not_contains", "in_"):
                value = getattr(condition, operator)
                for v in value if isinstance(value, list) else [value]:
                    if isinstance(v, str) and not v.startswith(CONTEXT_REF):
                        try:
                            canonical_purpose(v)
                        except UnknownPurposeError as exc:
                            key = Condition.model_fields[operator].alias or operator
                            problems.append(((*loc, "attributes", k, name, key), str(exc)))
    return problems
