"""Atlas type, classification and shared attribute names: one home for the names our code and typedefs/
must agree on. tests/unit/test_mapping_typedefs.py checks every name here, and every attribute each
builder in mapping/ writes, against typedefs/*.json, so a renamed attribute fails a test, not a write.

Attributes that only one builder writes stay as literal keys in that builder (the test covers them);
names read or written in more than one place are constants here.
"""

from __future__ import annotations

# --- entity types ------------------------------------------------------------------------------------
ML_DATASET = "ml_dataset"
ML_DATA_LICENSE = "ml_data_license"
ML_CONSENT_RECORD = "ml_consent_record"
ML_DERIVATION = "ml_derivation"
ML_SPARK_PROCESS = "ml_spark_process"
ML_TRAINING_RUN = "ml_training_run"
ML_EVALUATION_RUN = "ml_evaluation_run"
ML_MODEL = "ml_model"
ML_RELEASE = "ml_release"
ML_RELEASE_FINDING = "ml_release_finding"  # one finding of a release check, linked to its release and source

# --- attributes every Referenceable / Asset has -------------------------------------------------------
QUALIFIED_NAME = "qualifiedName"
NAME = "name"
DESCRIPTION = "description"

# --- relationship attributes (relationship ends) ------------------------------------------------------
INPUTS = "inputs"  # Process -> DataSet (dataset_process_inputs)
OUTPUTS = "outputs"  # Process -> DataSet (process_dataset_outputs)
OUTPUT_FROM_PROCESSES = "outputFromProcesses"  # DataSet end of process_dataset_outputs
DATASET_LICENSES = "licenses"  # ml_dataset -> ml_data_license
MODEL_LICENSES = "licenses"  # ml_model -> ml_data_license (ml_model_license)
DATASET_CONSENT_RECORDS = "consentRecords"  # ml_dataset -> ml_consent_record
COVERED_DATASETS = "datasets"  # ml_consent_record / ml_data_license -> ml_dataset
MODEL_RELEASES = "releases"  # ml_model -> ml_release
RELEASE_MODEL = "model"  # ml_release -> ml_model
RELEASE_FINDINGS = "findings"  # ml_release -> ml_release_finding (composition: dropped findings are deleted)
FINDING_RELEASE = "release"  # ml_release_finding -> ml_release
FINDING_SOURCE = "source"  # ml_release_finding -> the Asset (dataset, step) the finding comes from
SOURCE_FINDINGS = "releaseFindings"  # Asset end of ml_finding_source: the findings that name this asset

# --- classifications ------------------------------------------------------------------------------------
NON_COMMERCIAL = "NonCommercial"
SHARE_ALIKE = "ShareAlike"
ATTRIBUTION_REQUIRED = "AttributionRequired"
NO_DERIVATIVES = "NoDerivatives"
RESEARCH_ONLY = "ResearchOnly"
UNKNOWN_LICENSE = "UnknownLicense"
LICENSE_TEXT_REQUIRED = "LicenseTextRequired"
PERSONAL_DATA = "PersonalData"
SPECIAL_CATEGORY_DATA = "SpecialCategoryData"
CONSENT_SCOPE = "ConsentScope"
CONSENT_WITHDRAWN = "ConsentWithdrawn"
RETRACTED = "Retracted"
USE_RESTRICTIONS = "UseRestrictions"  # from a license's use policy (Llama AUP, RAIL Attachment A, Gemma)
NAMING_REQUIREMENT = "NamingRequirement"
USER_THRESHOLD = "UserThreshold"
INCOMPLETE_LINEAGE = "IncompleteLineage"
RELEASE_VERDICT = "ReleaseVerdict"
ANONYMISATION_ATTESTED = "AnonymisationAttested"  # on the outputs of an attested anonymisation
RISK_ACCEPTED = "RiskAccepted"  # recorded by officers (or `atlas-ml accept`), read by the release check

# --- classification attributes several builders or readers share ----------------------------------------
LICENSE_ID = "licenseId"
SOURCE_DATASET = "sourceDataset"
ATTESTATION = "attestation"  # ml_derivation attribute and AnonymisationAttested attribute
LINEAGE_LABEL = "lineageLabel"  # ml_derivation: what the lineage graph shows on the step (displayTextAttribute)
