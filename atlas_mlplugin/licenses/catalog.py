"""The license catalog: ML-relevant terms of common data licenses, addressed by SPDX id.

Seeded from licenses.csv beside this file. Each row's `notes` column cites the clause of the license text
the terms come from (e.g. CDLA-Permissive-2.0 Sec 3.1 / 5.4 for "results, including trained models, are
unrestricted"); the terms are facts gathered from the license texts, not legal advice.
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
                notes=row["notes"] or None,
            )
            for row in rows
        ]
        return cls(licenses)

    def add(self, license_: DataLicense) -> None:
        self._by_id[license_.spdx_id.lower()] = license_

    def get(self, license_id: str) -> DataLicense:
        """The license by SPDX id (case-insensitive); unknown ids raise with close matches."""
        found = self._by_id.get(license_id.strip().lower())
        if found is None:
            close = difflib.get_close_matches(license_id.strip().lower(), list(self._by_id), n=3, cutoff=0.5)
            raise UnknownLicenseError(license_id, [self._by_id[key].spdx_id for key in close])
        return found

    def all(self) -> list[DataLicense]:
        return sorted(self._by_id.values(), key=lambda lic: lic.spdx_id)
