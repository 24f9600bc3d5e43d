"""Hugging Face license ids <-> ids of our license catalog (atlas_mlplugin/licenses/licenses.csv).

The Hub's ids are lower-case SPDX ids where one exists (apache-2.0, cc-by-nc-4.0), short names for the model
licenses that have no SPDX id (llama3.1, gemma, openrail), and `other` with `license_name` / `license_link`
for anything else (the Hub's documented license list). An id the catalog lacks is recorded as NOASSERTION,
which gives the UnknownLicense tag: the model or dataset must not look clean because its license could not be
read, and the message says so and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

from atlas_mlplugin.licenses.catalog import LicenseCatalog, UnknownLicenseError
from atlas_mlplugin.model.licenses import UNKNOWN_LICENSE_ID

# The catalog knows each row's Hub id (its `hf_license` column: llama3.1 -> LicenseRef-llama-3.1-community) and
# looks ids up case-insensitively (apache-2.0 -> Apache-2.0). Only the Hub ids that say "no license known"
# need a word here: `unknown`, and `cc`, "some Creative Commons license", whose terms depend on which one.
_NO_LICENSE = frozenset({"unknown", "cc"})


@dataclass(frozen=True)
class MappedLicense:
    """The catalog id a card's license maps to, and why it is NOASSERTION when it could not be mapped."""

    license_id: str
    problem: str | None = None


def catalog_id(hf_id: str, catalog: LicenseCatalog) -> str | None:
    """The catalog id for one Hub license id (or a catalog id given as is), or None."""
    if hf_id.strip().lower() == "unknown":
        return UNKNOWN_LICENSE_ID
    if hf_id.strip().lower() in _NO_LICENSE:
        return None
    for candidate in (hf_id.strip(), f"LicenseRef-{hf_id.strip()}"):  # as given, or a custom license's id
        try:
            return catalog.get(candidate).spdx_id
        except UnknownLicenseError:
            continue
    return None


def map_license(licenses: list[str], license_name: str | None, license_link: str | None,
                catalog: LicenseCatalog) -> MappedLicense:
    """The catalog license of a card's `license` (with `license_name`/`license_link` for `other`)."""
    if not licenses:
        return MappedLicense(UNKNOWN_LICENSE_ID, "the card names no license: recorded as NOASSERTION (UnknownLicense)")
    mapped: dict[str, str] = {}
    unknown: list[str] = []
    for given in licenses:
        name = license_name if given.strip().lower() == "other" and license_name else given
        found = catalog_id(name, catalog)
        if found is None:
            what = f"license 'other' named {license_name!r}" if name is not given else f"license {given!r}"
            if given.strip().lower() == "other" and not license_name:
                what = "license 'other' without license_name"
            link = f" ({license_link})" if license_link and given.strip().lower() == "other" else ""
            unknown.append(what + link)
        else:
            mapped[found] = given
    if unknown:
        return MappedLicense(UNKNOWN_LICENSE_ID, f"{'; '.join(unknown)} is not in the license catalog (`atlas-ml "
                             "license list`): recorded as NOASSERTION, so it carries UnknownLicense. Import it again "
                             "with --license ID naming the catalog license with these terms")
    if len(mapped) > 1:
        return MappedLicense(UNKNOWN_LICENSE_ID, f"the card names several licenses ({', '.join(mapped)}): recorded "
                             "as NOASSERTION (UnknownLicense) until you say which applies with --license ID")
    return MappedLicense(next(iter(mapped)))


def hf_license_fields(license_id: str, catalog: LicenseCatalog) -> dict[str, str]:
    """The front matter that states a catalog license on the Hub: `license: <hub id>`, or `license: other`
    with `license_name` and `license_link` for a license the Hub has no id for."""
    try:
        lic = catalog.get(license_id)
    except UnknownLicenseError:
        lic = None
    if lic is not None and lic.hf_license:
        return {"license": lic.hf_license}
    if license_id == UNKNOWN_LICENSE_ID:
        return {"license": "unknown"}
    if not license_id.startswith("LicenseRef-"):
        return {"license": license_id.lower()}  # the Hub's ids are the SPDX ids, lower case
    fields = {"license": "other", "license_name": license_id.removeprefix("LicenseRef-").lower()}
    url = (lic.source or lic.url) if lic else None
    if url:
        fields["license_link"] = url
    return fields
