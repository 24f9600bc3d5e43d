"""The license catalog: ML-relevant terms of common data and model licenses, addressed by SPDX id.

Seeded from licenses.csv beside this file (its columns: README.md there). Each row's `source` column is the
URL of the license text (or its SPDX page) the terms were read from, and its `notes` column cites the clause
(e.g. CDLA-Permissive-2.0 Sec 3.1 / 5.4 for "results, including trained models, are unrestricted"); the
terms are facts gathered from the license texts, not legal advice. Licenses the SPDX License List lacks
(Llama community licenses, OpenRAIL-M, Gemma terms) have LicenseRef-... ids; their Hugging Face card ids
(`hf_license`, e.g. llama3.1) are accepted as aliases.
"""

from __future__ import annotations

import csv
import difflib
from importlib import resources
from pathlib import Path

from atlas_mlplugin.errors import AtlasMlError
from atlas_mlplugin.model.licenses import DataLicense


class UnknownLicenseError(AtlasMlError, ValueError):
    def __init__(self, license_id: str, suggestions: list[str]) -> None:
        self.license_id = license_id
        self.suggestions = suggestions
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"unknown license id {license_id!r}.{hint} Use an SPDX id from `atlas-ml license list`, "
            "NOASSERTION when the license is unknown, or register a custom LicenseRef-... license."
        )


def _bool(value: str) -> bool:
    return value.strip().lower() == "true"


class LicenseCatalog:
    def __init__(self, licenses: list[DataLicense]) -> None:
        self._by_id = {lic.spdx_id.lower(): lic for lic in licenses}
        # A model card's `license: llama3.1` names the same terms as LicenseRef-llama-3.1-community.
        self._aliases = {lic.hf_license.lower(): lic.spdx_id.lower() for lic in licenses if lic.hf_license}

    @classmethod
    def from_csv(cls, path: Path | None = None) -> LicenseCatalog:
        if path is None:
            text = resources.files("atlas_mlplugin.licenses").joinpath("licenses.csv").read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        rows = csv.DictReader(text.splitlines())
        licenses = [
            DataLicense(
                spdx_id=row["spdx_id"],
                name=row["name"],
                url=f"https://spdx.org/licenses/{row['spdx_id']}.html"
                if not row["spdx_id"].startswith("LicenseRef-") and row["spdx_id"] != "NOASSERTION" else None,
                use_category=row["use_category"],  # type: ignore[arg-type]
                attribution_required=_bool(row["attribution_required"]),
                share_alike=_bool(row["share_alike"]),
                derivatives_allowed=row["derivatives_allowed"],  # type: ignore[arg-type]
                license_text_must_accompany=_bool(row["license_text_must_accompany"]),
                model_treatment=row["model_treatment"],  # type: ignore[arg-type]
                use_restrictions=[r for r in [row["use_restrictions"].strip()] if r],
                use_policy_url=row["use_policy_url"] or None,
                naming_requirement=row["naming_requirement"] or None,
                user_threshold=int(row["user_threshold"]) if row["user_threshold"].strip() else None,
                notice_text=row["notice_text"] or None,
                hf_license=row["hf_license"] or None,
                source=row["source"] or None,
                notes=row["notes"] or None,
            )
            for row in rows
        ]
        return cls(licenses)

    def add(self, license_: DataLicense) -> None:
        self._by_id[license_.spdx_id.lower()] = license_

    def get(self, license_id: str) -> DataLicense:
        """The license by SPDX id or Hugging Face license id (case-insensitive); unknown ids raise with close
        matches."""
        key = license_id.strip().lower()
        found = self._by_id.get(key) or self._by_id.get(self._aliases.get(key, ""))
        if found is None:
            close = difflib.get_close_matches(license_id.strip().lower(), list(self._by_id), n=3, cutoff=0.5)
            raise UnknownLicenseError(license_id, [self._by_id[key].spdx_id for key in close])
        return found

    def all(self) -> list[DataLicense]:
        return sorted(self._by_id.values(), key=lambda lic: lic.spdx_id)
