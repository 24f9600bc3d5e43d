from atlas_mlplugin.licenses.catalog import LicenseCatalog, UnknownLicenseError

__all__ = ["LicenseCatalog", "UnknownLicenseError"]
