"""A CheckReport for people (text, Markdown), for machines (JSON) and for the release itself (NOTICE).

The report's JSON Schema is published as docs/check-report.schema.json; regenerate it after changing
policy/model.py:
    python -m atlas_mlplugin.policy.render > docs/check-report.schema.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from atlas_mlplugin.policy.model import AcceptedBy, CheckReport, Finding, IgnoredAcceptance, ReleaseContext

REGENERATE = "python -m atlas_mlplugin.policy.render > docs/check-report.schema.json"
ARROW = " → "


def render_json(report: CheckReport) -> str:
    """The CheckReport as JSON: `verdict` and `findings` first, then context, obligations, policy, time."""
    data = report.model_dump(mode="json")
    # `ships` is a set; its iteration order changes between processes, the output must not.
    data["context"]["ships"] = sorted(data["context"]["ships"])
    data = {"verdict": data.pop("verdict"), "findings": data.pop("findings"), **data}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render_text(report: CheckReport) -> str:
    lines = [f"Release check: {report.verdict}{_accepted_count(report)}",
             f"Model:   {report.model} ({report.model_guid})",
             f"Context: {_context(report.context)}",
             f"Policy:  {report.policy}; checked {report.checked_at.isoformat()}", ""]
    if not report.findings:
        lines.append("No findings.")
    for f in report.findings:
        lines.append(f"{f.outcome:<5}  {f.rule_id}  [{f.tag}] from {_source(f)}")
        lines.append(f"       {f.message}")
        if f.path:
            lines.append(f"       path: {ARROW.join(f.path)}")
        if f.accepted:
            lines.append(f"       {_accepted(f.accepted, f.severity)}")
        elif f.remedy:
            lines.append(f"       remedy: {f.remedy}")
    if report.ignored_acceptances:
        lines += ["", "Acceptances not applied:"]
        lines += [f"  - {_ignored(i)}" for i in report.ignored_acceptances]
    lines += ["", *_obligation_lines(report, bullet="  - ")]
    return "\n".join(lines).rstrip() + "\n"


def render_markdown(report: CheckReport) -> str:
    lines = [f"# Release check: **{report.verdict}**{_accepted_count(report)}", "",
             f"- Model: `{report.model}` (`{report.model_guid}`)",
             f"- Context: {_context(report.context)}",
             f"- Policy: `{report.policy}`; checked {report.checked_at.isoformat()}", "",
             "## Findings", ""]
    if report.findings:
        lines += ["| Severity | Rule | Tag | Finding | From dataset | Path | Remedy |",
                  "|---|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join(_cell(c) for c in (
            f"**{f.outcome}**", f"`{f.rule_id}`", f.tag, f.message, _source(f), ARROW.join(f.path),
            _accepted(f.accepted, f.severity) if f.accepted else f.remedy or "")) + " |" for f in report.findings]
    else:
        lines.append("No findings.")
    if report.ignored_acceptances:
        lines += ["", "## Acceptances not applied", ""]
        lines += [f"- {_ignored(i)}" for i in report.ignored_acceptances]
    lines += ["", "## Obligations", "", *_obligation_lines(report, bullet="- ")]
    return "\n".join(lines).rstrip() + "\n"


def render_notice(report: CheckReport) -> str:
    """The NOTICE file to ship with the release: every credit the training data's licenses require."""
    rule = "-" * 72
    lines = ["NOTICE", "", f"Model: {report.model}", ""]
    attributions = report.obligations.attributions
    if attributions:
        lines += ["This model was trained on the following works, whose licenses require this credit.", ""]
    else:
        lines += ["None of the data this model was trained on requires attribution.", ""]
    for credit in attributions:
        lines += [rule, str(credit.get("title") or credit["source"])]
        if credit.get("creator"):
            lines.append(f"Creator: {credit['creator']}")
        license_ = credit.get("license") or "not recorded"
        lines.append(f"License: {license_}" + (f" ({credit['license_url']})" if credit.get("license_url") else ""))
        lines.append(f"Source: {credit.get('url') or credit['source']}")
        if credit.get("attributionText"):
            lines.append(f"Attribution: {credit['attributionText']}")
        lines += ["Changes: the data was used to train this model.", ""]
    if attributions:
        lines += [rule, ""]
    texts = report.obligations.license_texts
    lines.append("License texts that must accompany this release: " + (", ".join(texts) if texts else "none"))
    return "\n".join(lines) + "\n"


def report_schema() -> dict[str, Any]:
    # The schema of what render_json writes (serialization mode: it includes computed fields like `outcome`).
    return CheckReport.model_json_schema(mode="serialization")


def schema_text() -> str:
    """docs/check-report.schema.json as committed: 2-space indent, final newline."""
    return json.dumps(report_schema(), indent=2, ensure_ascii=False) + "\n"


def _context(context: ReleaseContext) -> str:
    parts = [f"audience {context.audience}", "commercial" if context.commercial else "non-commercial",
             "ships " + (", ".join(sorted(context.ships)) or "nothing")]
    if context.purpose:
        parts.append(f"purpose {context.purpose}")
    return "; ".join(parts)


def _source(finding: Finding) -> str:
    name = finding.source_qualified_name or finding.source_guid or "unknown"
    return name + (" (deleted from the catalog)" if finding.source_deleted else "")


def _accepted_count(report: CheckReport) -> str:
    # A PASS that holds only because risks were accepted should say so at first sight.
    count = sum(1 for f in report.findings if f.accepted is not None)
    return f" ({count} finding{'s' if count > 1 else ''} accepted)" if count else ""


def _accepted(by: AcceptedBy, severity: str) -> str:
    why = "; ".join(x for x in (by.reason, f"ticket {by.ticket}" if by.ticket else None) if x)
    return (f"accepted ({severity} otherwise) by {by.approver} until {by.until.isoformat()}"
            + (f": {why}" if why else ""))


def _ignored(item: IgnoredAcceptance) -> str:
    who = f"by {item.approver}" if item.approver else "by nobody recorded"
    parts = [f"acceptance {who}"]
    if item.rule_id:
        parts.append(f"of {item.rule_id}")
    if item.recorded_on:
        parts.append(f"on {item.recorded_on}")
    return " ".join(parts) + f": {item.reason}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _obligation_lines(report: CheckReport, *, bullet: str) -> list[str]:
    obligations = report.obligations
    lines = [f"Attribution (ship the NOTICE file): {len(obligations.attributions)} work(s)"
             if obligations.attributions else "Attribution: none required"]
    for credit in obligations.attributions:
        by = f" by {credit['creator']}" if credit.get("creator") else ""
        lines.append(f"{bullet}{credit.get('title') or credit['source']}{by} ({credit.get('license')}), "
                     f"from {credit['source']}")
    texts = obligations.license_texts
    lines += ["", "License texts to ship: " + (", ".join(texts) if texts else "none")]
    return lines


if __name__ == "__main__":
    sys.stdout.write(schema_text())
