"""The policy file: the default policy, user files extending it, errors that name file, line and field;
the docs and the published report schema staying in step with the code."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from atlas_mlplugin.policy.evaluate import evaluate
from atlas_mlplugin.policy.model import Evidence, ReleaseContext, UpstreamTag
from atlas_mlplugin.policy.render import REGENERATE, schema_text
from atlas_mlplugin.policy.rules import Override, Policy, PolicyError, Rule, load_policy, parse_policy

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "check-report.schema.json"
POLICY_DOC = ROOT / "docs" / "policy.md"
PARTNER = ReleaseContext(audience="partner")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def issues_of(path: Path) -> list[tuple[int, str, str]]:
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert all(issue.file == str(path) for issue in caught.value.issues)
    assert all(str(issue).startswith(f"{path}:{issue.line}:{issue.column}: ") for issue in caught.value.issues)
    return [(issue.line, issue.field, issue.message) for issue in caught.value.issues]


def share_alike_model() -> Evidence:
    return Evidence(model_guid="m-1", model_qualified_name="file:///models/m", tags=[UpstreamTag(
        type_name="ShareAlike", attributes={"licenseId": "CC-BY-SA-4.0"}, source_guid="g-1",
        source_qualified_name="file:///data/wiki", path=("file:///data/wiki", "train", "file:///models/m"))])


# --------------------------------------------------------------------------------------------------
# the default policy


def test_default_policy_loads_with_unique_ids_and_a_remedy_for_every_rule() -> None:
    policy = load_policy()
    assert policy.name == "default" and policy.extends is None and not policy.overrides
    ids = [r.id for r in policy.rules]
    assert len(ids) == len(set(ids)) == 34
    assert all(r.remedy and r.message for r in policy.rules)
    assert load_policy(None) is policy  # parsed once


def test_default_policy_covers_every_derived_tag() -> None:
    from atlas_mlplugin.mapping.tags import DERIVED_TAG_TYPES, LINEAGE_TAG_TYPES

    covered = {t for r in load_policy().rules for t in r.tag}
    assert covered == DERIVED_TAG_TYPES | LINEAGE_TAG_TYPES


def test_docs_list_every_default_rule_with_its_severity() -> None:
    doc = POLICY_DOC.read_text("utf-8")
    rows = dict(re.findall(r"^\| `([a-z-]+)` \|.*\| (INFO|WARN|BLOCK) \|$", doc, flags=re.M))
    assert rows == {r.id: r.severity for r in load_policy().rules}


def test_docs_example_policy_is_valid(tmp_path: Path) -> None:
    example = re.search(r"```yaml\n(.*?)```", POLICY_DOC.read_text("utf-8"), flags=re.S)
    assert example
    policy = load_policy(write(tmp_path, example.group(1)))
    assert policy.rules[-1].id == "no-eval-data-from-chats"
    assert next(r for r in policy.rules if r.id == "share-alike").severity == "BLOCK"


def test_committed_report_schema_is_current() -> None:
    assert SCHEMA.exists(), f"docs/check-report.schema.json is missing; run: {REGENERATE}"
    assert SCHEMA.read_text("utf-8") == schema_text(), (
        f"docs/check-report.schema.json is stale (policy/model.py changed); run: {REGENERATE}")


# --------------------------------------------------------------------------------------------------
# user policies


def test_override_of_a_default_severity_changes_the_verdict(tmp_path: Path) -> None:
    assert evaluate(share_alike_model(), PARTNER, load_policy()).verdict == "WARN"
    stricter = write(tmp_path, """
        version: 1
        extends: default
        overrides:
          - {id: share-alike, severity: BLOCK}
        """)
    policy = load_policy(stricter)
    assert policy.name == str(stricter)
    report = evaluate(share_alike_model(), PARTNER, policy)
    assert report.verdict == "BLOCK" and report.policy == str(stricter)
    assert [(f.rule_id, f.severity) for f in report.findings] == [("share-alike", "BLOCK")]
    # every other default rule is still there, unchanged
    assert [(r.id, r.severity) for r in policy.rules if r.id != "share-alike"] == [
        (r.id, r.severity) for r in load_policy().rules if r.id != "share-alike"]


def test_override_can_relax_a_rule(tmp_path: Path) -> None:
    relaxed = load_policy(write(tmp_path, """
        version: 1
        extends: default
        overrides: [{id: share-alike, severity: INFO}]
        """))
    assert evaluate(share_alike_model(), PARTNER, relaxed).verdict == "PASS"


def test_added_rule_fires_after_the_default_rules(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, """
        version: 1
        extends: default
        rules:
          - id: no-share-alike-wiki
            tag: [ShareAlike, NoDerivatives]
            when: {audience: [partner, public]}
            attributes:
              licenseId: {in: [CC-BY-SA-4.0, CC-BY-SA-3.0]}
            severity: BLOCK
            message: "{source} ({license}) may not go to a {audience} release at ACME."
            remedy: Ask legal.
        """))
    assert policy.rules[-1].id == "no-share-alike-wiki" and len(policy.rules) == 35
    report = evaluate(share_alike_model(), PARTNER, policy)
    assert report.verdict == "BLOCK"
    custom = next(f for f in report.findings if f.rule_id == "no-share-alike-wiki")
    assert custom.message == "file:///data/wiki (CC-BY-SA-4.0) may not go to a partner release at ACME."
    assert custom.remedy == "Ask legal."


def test_a_policy_without_extends_has_only_its_own_rules(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, """
        version: 1
        rules:
          - {id: only, tag: Retracted, severity: WARN, message: "{source} retracted"}
        """))
    assert [r.id for r in policy.rules] == ["only"]
    assert evaluate(share_alike_model(), PARTNER, policy).verdict == "PASS"


def test_a_policy_built_in_code_that_extends_default_is_resolved_by_evaluate() -> None:
    policy = Policy(version=1, extends="default", overrides=[Override(id="share-alike", severity="BLOCK")],
                    rules=[Rule(id="extra", tag="Retracted", severity="INFO", message="m")])
    assert evaluate(share_alike_model(), PARTNER, policy).verdict == "BLOCK"


def test_parse_policy_names_the_policy() -> None:
    policy = parse_policy("version: 1\nextends: default\n", file="<ci>", name="acme")
    assert policy.name == "acme" and len(policy.rules) == 34


# --------------------------------------------------------------------------------------------------
# errors name the file, line and field


def test_malformed_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        rules:
          - id: a
            tag: [Retracted
        """)
    [(line, field, message)] = issues_of(path)
    assert line >= 4 and field == "" and message.startswith("invalid YAML:")


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty; a policy starts with `version: 1`"),
    ("- version: 1\n", "a policy is a mapping"),
])
def test_empty_or_not_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    [(line, field, got)] = issues_of(write(tmp_path, text))
    assert (line, field) == (1, "") and got.startswith(message)


def test_unknown_key_with_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        rules:
          - id: a
            tag: Retracted
            sevirity: BLOCK
            message: x
        """)
    assert (5, "rules[0].sevirity", "unknown field 'sevirity'; did you mean 'severity'?") in issues_of(path)


def test_unknown_top_level_key_and_missing_version(tmp_path: Path) -> None:
    path = write(tmp_path, """
        extend: default
        """)
    assert issues_of(path) == [(1, "extend", "unknown field 'extend'; did you mean 'extends'?"),
                               (1, "version", "required field is missing")]


def test_bad_severity(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        rules:
          - id: a
            tag: Retracted
            severity: FATAL
            message: x
        """)
    assert issues_of(path) == [(5, "rules[0].severity", "Input should be 'INFO', 'WARN' or 'BLOCK' (got 'FATAL')")]


def test_bad_severity_in_an_override(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        extends: default
        overrides:
          - id: share-alike
            severity: block
        """)
    [(line, field, message)] = issues_of(path)
    assert (line, field) == (5, "overrides[0].severity") and "(got 'block')" in message


def test_override_of_an_unknown_rule_id(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        extends: default
        overrides:
          - {id: share-alike, severity: BLOCK}
          - {id: shareallike, severity: BLOCK}
          - {id: share-alike, severity: INFO}
        """)
    assert issues_of(path) == [
        (5, "overrides[1].id", "no default rule 'shareallike' to override; did you mean 'share-alike'?"),
        (6, "overrides[2].id", "rule 'share-alike' is overridden twice")]


def test_overrides_need_extends(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        overrides: [{id: share-alike, severity: BLOCK}]
        """)
    assert issues_of(path) == [(2, "overrides", "overrides change default rules; add `extends: default`")]


def test_duplicate_rule_ids_and_reuse_of_a_default_id(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        extends: default
        rules:
          - {id: mine, tag: Retracted, severity: INFO, message: x}
          - {id: mine, tag: Retracted, severity: WARN, message: y}
          - {id: retracted-data, tag: Retracted, severity: WARN, message: z}
        """)
    assert issues_of(path) == [
        (5, "rules[1].id", "duplicate rule id 'mine': already used by rules[0]"),
        (6, "rules[2].id", "'retracted-data' is a default rule; change its severity under overrides:, or give this "
                           "rule another id")]


def test_unknown_operator_and_operator_forgotten(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        rules:
          - id: a
            tag: ConsentScope
            attributes:
              purposes: {startswith: model}
              excludedPurposes: model-training
            severity: WARN
            message: x
        """)
    issues = issues_of(path)
    assert (6, "rules[0].attributes.purposes.startswith",
            "unknown operator 'startswith'; allowed: equals, in, contains, not_contains, covers, not_covers, "
            "overlaps, exists, missing") in issues
    assert any(line == 7 and field == "rules[0].attributes.excludedPurposes" and "operator: value" in message
               for line, field, message in issues)


def test_bad_context_in_when_and_in_attribute_values(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        rules:
          - id: a
            tag: ConsentScope
            when: {audience: everyone, colour: red}
            attributes: {purposes: {contains: $context.porpose}}
            severity: WARN
            message: "{source} {nope}"
        """)
    lines = {(line, field) for line, field, _ in issues_of(path)}
    assert lines == {(5, "rules[0].when.audience"), (5, "rules[0].when.colour"),
                     (6, "rules[0].attributes.purposes"), (8, "rules[0].message")}


def test_misspelt_tag_and_attribute_names(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        rules:
          - id: a
            tag: Noncommercial
            severity: WARN
            message: x
          - id: b
            tag: ConsentScope
            attributes: {purpose: {contains: model-training}}
            severity: WARN
            message: "{attr.purpose}"
          - id: c
            tag: AcmeReviewed
            attributes: {anything: {exists: true}}
            severity: INFO
            message: "{attr.anything}"
        """)
    issues = issues_of(path)
    assert (4, "rules[0].tag", "unknown tag 'Noncommercial'; did you mean 'NonCommercial'?") in issues
    assert any(f == "rules[1].attributes.purpose" and "has no attribute 'purpose'" in m for _, f, m in issues)
    assert any(f == "rules[1].message" and "{attr.purpose}" in m for _, f, m in issues)
    assert not any(f.startswith("rules[2]") for _, f, _ in issues)  # your own classifications are fine


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = write(tmp_path, """
        version: 1
        rules:
          - id: a
            tag: Retracted
            severity: WARN
            severity: INFO
            message: x
        """)
    [(line, field, message)] = issues_of(path)
    assert (line, field) == (6, "rules[0].severity") and message.startswith("duplicate key 'severity'")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(b"version: 1\nrules: \xff\n")
    assert issues_of(path)[0][:2] == (2, "")
