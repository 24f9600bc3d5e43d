"""The license catalog: the packaged licenses.csv, lookups by SPDX id, helpful errors, custom licenses."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from atlas_mlplugin.licenses import LicenseCatalog, UnknownLicenseError
from atlas_mlplugin.model import DataLicense


@pytest.fixture(scope="module")
def catalog() -> LicenseCatalog:
    return LicenseCatalog.from_csv()


def csv_rows() -> list[dict[str, str]]:
    text = resources.files("atlas_mlplugin.licenses").joinpath("licenses.csv").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def test_every_csv_row_loads(catalog: LicenseCatalog) -> None:
    rows = csv_rows()
    assert len(rows) >= 15
    ids = [row["spdx_id"] for row in rows]
    assert len(set(ids)) == len(ids), "duplicate spdx_id rows would shadow each other"
    assert [lic.spdx_id for lic in catalog.all()] == sorted(ids)
    for row in rows:
        lic = catalog.get(row["spdx_id"])
        assert lic.name == row["name"]
        assert lic.use_category == row["use_category"]
        assert lic.attribution_required is (row["attribution_required"] == "true")
        assert lic.share_alike is (row["share_alike"] == "true")
        assert lic.derivatives_allowed == row["derivatives_allowed"]
        assert lic.license_text_must_accompany is (row["license_text_must_accompany"] == "true")
        assert lic.model_treatment == row["model_treatment"]
        assert lic.use_restrictions == ([row["use_restrictions"]] if row["use_restrictions"] else [])


def test_spdx_licenses_link_to_spdx_and_custom_ones_do_not(catalog: LicenseCatalog) -> None:
    assert catalog.get("CC-BY-4.0").url == "https://spdx.org/licenses/CC-BY-4.0.html"
    assert catalog.get("LicenseRef-research-only").url is None
    assert catalog.get("NOASSERTION").url is None
    assert catalog.get("NOASSERTION").is_unknown


def test_lookup_is_case_insensitive(catalog: LicenseCatalog) -> None:
    lic = catalog.get("cc-by-nc-4.0")
    assert lic.spdx_id == "CC-BY-NC-4.0"  # the canonical spelling comes back
    assert catalog.get("Cc-By-Nc-4.0") is lic
    assert catalog.get("  CC-BY-NC-4.0 ") is lic
    assert catalog.get("noassertion").spdx_id == "NOASSERTION"


def test_cc_by_nc_is_non_commercial_with_attribution(catalog: LicenseCatalog) -> None:
    lic = catalog.get("CC-BY-NC-4.0")
    assert lic.use_category == "nonCommercial"
    assert lic.attribution_required is True
    assert lic.share_alike is False
    assert lic.qualified_name == "spdx:CC-BY-NC-4.0"


def test_cdla_permissive_results_unrestricted_text_must_accompany(catalog: LicenseCatalog) -> None:
    lic = catalog.get("CDLA-Permissive-2.0")
    assert lic.model_treatment == "resultUnrestricted"
    assert lic.license_text_must_accompany is True
    assert lic.use_category == "commercial"
    assert lic.attribution_required is False


def test_unknown_id_suggests_the_close_match_and_what_to_do(catalog: LicenseCatalog) -> None:
    with pytest.raises(UnknownLicenseError) as info:
        catalog.get("CC-BY-NC-4")
    err = info.value
    assert isinstance(err, ValueError)
    assert err.license_id == "CC-BY-NC-4"
    assert err.suggestions[0] == "CC-BY-NC-4.0"
    message = str(err)
    assert "'CC-BY-NC-4'" in message
    assert "Did you mean: CC-BY-NC-4.0" in message
    assert "atlas-ml license list" in message and "NOASSERTION" in message and "LicenseRef-" in message


def test_unknown_id_without_close_match_still_says_what_to_do(catalog: LicenseCatalog) -> None:
    with pytest.raises(UnknownLicenseError) as info:
        catalog.get("zzzz")
    assert info.value.suggestions == []
    assert "Did you mean" not in str(info.value)
    assert "atlas-ml license list" in str(info.value)


def test_lowercase_typo_gets_a_suggestion_too(catalog: LicenseCatalog) -> None:
    with pytest.raises(UnknownLicenseError) as info:
        catalog.get("cc-by-nc-4")
    assert "CC-BY-NC-4.0" in info.value.suggestions


def test_custom_license_ref_added_is_found(catalog: LicenseCatalog) -> None:
    own = LicenseCatalog.from_csv()  # do not modify the shared one
    acme = DataLicense(spdx_id="LicenseRef-acme", name="ACME internal data terms", use_category="academicOnly",
                       attribution_required=True)
    with pytest.raises(UnknownLicenseError):
        own.get("LicenseRef-acme")
    own.add(acme)
    assert own.get("LicenseRef-acme") is acme
    assert own.get("licenseref-ACME") is acme
    assert "LicenseRef-acme" in [lic.spdx_id for lic in own.all()]
    assert len(own.all()) == len(catalog.all()) + 1
