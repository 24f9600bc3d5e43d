"""Dataset names: the one place in Python that decides what a dataset is called in Atlas.

Ingest (OpenLineage events from any producer), PySpark autolog, `track_training`, the API and the catalog all
call this module; the Spark listener's `DatasetNaming` is the one place in Java. Both follow the OpenLineage
naming conventions (a dataset is a namespace and a name) and agree by the shared vectors in
tests/vectors/dataset_naming.json, which the Java and the Python unit tests both read.

    kind            namespace                                 name              qualifiedName
    local file      file                                      /abs/path         file:///abs/path
    object store    s3://bucket (s3a, s3n -> s3), gs://b ...  /key             s3://bucket/key
    HDFS            hdfs://namenode:8020                      /path             hdfs://namenode:8020/path
    JDBC table      the JDBC URL without credentials          schema.table      jdbc:postgresql://db:5432/app/schema.table
    catalog table   hive://metastore:9083, else the catalog's  db.table          hive://ms:9083/db.table,
                    url/uri/warehouse, else the Spark                            file:///wh/default.t
                    warehouse (file:///wh)

A table is named by the catalog that holds it, not by its files: a Delta or Iceberg table read through its
catalog is the same dataset whoever wrote it. Local paths are always absolute `file://` URIs. Credentials
are removed (scrubbing.scrub_uri) before a name is formed, so a name never depends on them.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from atlas_mlplugin.scrubbing import scrub_uri

# Schemes whose names are paths in a file system or object store (named like Hadoop paths).
FILESYSTEM_SCHEMES = frozenset({"file", "s3", "s3a", "s3n", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss",
                                "wasb", "wasbs", "adl", "dbfs", "oss", "cos", "cosn", "obs", "r2"})
_SCHEME_ALIASES = {"s3a": "s3", "s3n": "s3"}  # OpenLineage names every S3 file system s3://bucket
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")  # two characters at least: C:\ is a Windows path
SPARK_CATALOG = "spark_catalog"
DEFAULT_WAREHOUSE = "spark-warehouse"  # Spark's default spark.sql.warehouse.dir, relative to the working dir
MAX_QUERY_NAME = 200


@dataclass(frozen=True)
class DatasetName:
    """A dataset as OpenLineage names it."""

    namespace: str
    name: str

    @property
    def qualified_name(self) -> str:
        return qualified_name(self.namespace, self.name)


def qualified_name(namespace: str, name: str) -> str:
    """The Atlas qualifiedName of an OpenLineage (namespace, name)."""
    return _join(normalize_namespace(namespace), name)


def _join(namespace: str, name: str) -> str:
    name = _strip_trailing_slash(name)
    if namespace == "file":
        return "file://" + (name if name.startswith("/") else "/" + name)
    if "://" in namespace or namespace.startswith("jdbc:"):
        return namespace + (name if name.startswith("/") else "/" + name)
    return f"{namespace}:{name}"  # a logical namespace, e.g. spark_catalog or a service name


def normalize_namespace(namespace: str) -> str:
    """Credentials out, trailing slashes off, and a path-like namespace in the one URI form: file:/wh and
    file:///wh are the same warehouse; s3a://b is s3://b."""
    namespace = _strip_trailing_slash(scrub_uri(namespace.strip()))
    if namespace.startswith("/"):  # a bare local path, as some producers give a warehouse
        return path_uri(namespace)
    match = _SCHEME.match(namespace)
    if match and match.group(1).lower() in FILESYSTEM_SCHEMES and namespace.lower() != "file":
        as_path = from_path(namespace)
        return as_path.namespace if as_path.name == "/" and as_path.namespace != "file" else path_uri(namespace)
    return namespace


# --- paths -------------------------------------------------------------------------------------------
def from_path(location: str, *, base_dir: str | Path | None = None) -> DatasetName:
    """A path or URI as Hadoop or a user gives it ("file:/tmp/x", "/tmp/x", "data/x", "s3a://b/k").
    A relative path is taken relative to `base_dir` (default: the working directory)."""
    location = location.strip()
    match = _SCHEME.match(location)
    if match is None:  # a plain path: taken literally (only URIs are percent-decoded)
        return DatasetName("file", _absolute(location, base_dir))
    scheme = match.group(1).lower()
    parts = urlsplit(location)
    path = unquote(parts.path) or "/"
    if scheme == "file":
        return DatasetName("file", _absolute(path, base_dir))
    scheme = _SCHEME_ALIASES.get(scheme, scheme)
    return DatasetName(_strip_trailing_slash(scrub_uri(f"{scheme}://{parts.netloc}")), _strip_trailing_slash(path))


def path_uri(location: str, *, base_dir: str | Path | None = None) -> str:
    """A location as one full URI: "file:/wh" -> "file:///wh", "s3a://b/wh/" -> "s3://b/wh"."""
    named = from_path(location, base_dir=base_dir)
    return _join(named.namespace, named.name)


def _absolute(path: str, base_dir: str | Path | None) -> str:
    """An absolute, normalised local path ("a/../b" -> "/base/b"; "//x" -> "/x")."""
    if not path.startswith("/"):
        path = posixpath.join(str(base_dir) if base_dir is not None else os.getcwd(), path)
    normalized = posixpath.normpath(path)
    return "/" + normalized.lstrip("/")


def _strip_trailing_slash(text: str) -> str:
    while len(text) > 1 and text.endswith("/") and not text.endswith("://"):
        text = text[:-1]
    return text


# --- JDBC ----------------------------------------------------------------------------------------------
def from_jdbc(url: str | None, table_or_query: str | None) -> DatasetName:
    """A JDBC table: namespace = the URL without credentials, name = the table. A query ("(SELECT ...) q")
    names no table: its text, scrubbed and shortened, is the name."""
    namespace = scrub_uri((url or "jdbc:unknown").strip())
    name = (table_or_query or "").strip() or "unknown"
    if name.startswith("("):
        from atlas_mlplugin.scrubbing import scrub_text

        name = scrub_text(re.sub(r"\s+", " ", name))[:MAX_QUERY_NAME]
    return DatasetName(namespace, name)


# --- catalog tables ------------------------------------------------------------------------------------
def from_table(catalog: str | None, database: str | None, table: str, *, conf: Mapping[str, str]) -> DatasetName:
    """A table of a Spark catalog. `conf` is the Spark configuration (spark.sql.warehouse.dir, the Hive
    metastore URIs, spark.sql.catalog.NAME.url / .uri / .warehouse)."""
    name = (f"{database}." if database else "") + table
    return DatasetName(table_namespace(catalog, conf), name)


def table_namespace(catalog: str | None, conf: Mapping[str, str]) -> str:
    if catalog and catalog != SPARK_CATALOG:
        prefix = f"spark.sql.catalog.{catalog}."
        for key in ("url", "uri", "warehouse"):
            value = (conf.get(prefix + key) or "").strip()
            if value:
                return path_uri(value) if key == "warehouse" else _catalog_uri(value)
        return f"{SPARK_CATALOG}://{catalog}"
    metastore = metastore_uri(conf)
    if metastore:
        return _catalog_uri(metastore)
    return path_uri(warehouse_dir(conf))


def metastore_uri(conf: Mapping[str, str]) -> str | None:
    """The first Hive metastore URI of the configuration, if any."""
    uris = conf.get("spark.hadoop.hive.metastore.uris") or conf.get("hive.metastore.uris") or ""
    first = uris.split(",")[0].strip()
    return first or None


def warehouse_dir(conf: Mapping[str, str]) -> str:
    return (conf.get("spark.sql.warehouse.dir") or "").strip() or DEFAULT_WAREHOUSE


def _catalog_uri(uri: str) -> str:
    """A catalog service URI without credentials; a Hive metastore's thrift://host:port is hive://host:port
    (the OpenLineage name of a metastore, whichever catalog plugin talks to it)."""
    uri = _strip_trailing_slash(scrub_uri(uri.strip()))
    if uri.lower().startswith("thrift://"):
        authority = urlsplit(uri).netloc
        return f"hive://{authority}"
    return uri


# --- names people give --------------------------------------------------------------------------------
def from_user(text: str, *, base_dir: str | Path | None = None) -> str:
    """The qualifiedName for a dataset or model name a person or their code gave (track_training inputs,
    the catalog, the API, the CLI): paths and file-system URIs in the one form above, so
    `data/train.csv`, `/abs/data/train.csv` and `file:///abs/data/train.csv` are one dataset.

    A name without a scheme is a local path when it is absolute, starts with ./ ../ or ~, or exists on disk
    (relative to `base_dir`, default the working directory); otherwise it is a logical name
    (`models/scene-intent/1`) and kept as given. Credentials are removed in any case."""
    text = text.strip()
    match = _SCHEME.match(text)
    if match:
        if match.group(1).lower() in FILESYSTEM_SCHEMES:
            return from_path(text, base_dir=base_dir).qualified_name
        return scrub_uri(text, keep_user=True)  # names like hive://db.table@cluster keep their "user" part
    if text.startswith("~"):
        text = os.path.expanduser(text)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    if text.startswith(("/", "./", "../")) or text in (".", "..") or (text and _exists(base / text)):
        return from_path(text, base_dir=base).qualified_name
    return text


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # e.g. a name longer than the file system allows (ENAMETOOLONG): no file by that name
        return False


def display_name(qualified_name: str) -> str:
    """A short name for a dataset known only by its qualifiedName: the last path segment."""
    return qualified_name.rstrip("/").rsplit("/", 1)[-1] or qualified_name


# --- Hugging Face Hub repositories ----------------------------------------------------------------------
# A Hub repository is named by its repo id (`org/name`, or a bare `name` for the Hub's oldest repos); models
# and datasets live in separate namespaces on the Hub, so datasets carry a `datasets/` prefix, as in the Hub's
# own URLs. A card may give a full Hub URL instead of an id: it names the same repository.
HF_MODEL_PREFIX = "hf://"
HF_DATASET_PREFIX = "hf://datasets/"
_HF_URL = re.compile(r"^(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/", re.IGNORECASE)


def hf_repo_id(text: str, *, dataset: bool = False) -> str:
    """The repo id a card names, whether as an id, an hf:// name or a Hub URL (`https://huggingface.co/org/x`,
    `.../datasets/org/x`, with a `/tree/<rev>` tail dropped)."""
    text = text.strip().rstrip("/")
    for prefix in ((HF_DATASET_PREFIX, HF_MODEL_PREFIX) if dataset else (HF_MODEL_PREFIX,)):
        if text.startswith(prefix):
            return text.removeprefix(prefix)
    if _HF_URL.match(text):
        path = _HF_URL.sub("", text)
        if dataset:
            path = path.removeprefix("datasets/")
        return "/".join(path.split("/")[:2]) if "/tree/" in path or "/blob/" in path else path
    return text


def hf_model(repo_id: str) -> str:
    """qualifiedName of a Hugging Face model: hf://<repo_id>."""
    return HF_MODEL_PREFIX + hf_repo_id(repo_id)


def hf_dataset(repo_id: str) -> str:
    """qualifiedName of a Hugging Face dataset: hf://datasets/<repo_id>."""
    return HF_DATASET_PREFIX + hf_repo_id(repo_id, dataset=True)


def hf_training_run_id(repo_id: str) -> str:
    """run_id of the training run a model card describes (qualifiedName ml-run:hf-<repo_id>): one per model,
    so importing the card again updates that run rather than adding one."""
    return "hf-" + hf_repo_id(repo_id)


# --- MLflow (atlas-ml sync mlflow) ---------------------------------------------------------------------
# A model in MLflow is named by the tracking server that holds it: the same registered model name on two
# servers is two models. The tracking URI goes in without credentials, and a local store (a path, file:,
# sqlite:///relative.db) as an absolute location, so the name does not depend on the working directory.
def mlflow_tracking_uri(uri: str) -> str:
    """The tracking URI as it appears in names: credentials out, local stores absolute, no trailing slash."""
    uri = _strip_trailing_slash(scrub_uri(uri.strip()))
    match = _SCHEME.match(uri)
    if match is None or match.group(1).lower() == "file":
        return path_uri(uri)
    if uri.lower().startswith("sqlite:///") and not uri.lower().startswith("sqlite:////"):
        return "sqlite:///" + _absolute(uri[len("sqlite:///"):], None)
    return uri


def mlflow_model_version(tracking_uri: str, name: str, version: str | int) -> str:
    """A registered model version: `mlflow:<tracking uri>/models/<name>/<version>`."""
    return f"mlflow:{mlflow_tracking_uri(tracking_uri)}/models/{name}/{version}"


def mlflow_logged_model(tracking_uri: str, run_id: str, artifact_path: str) -> str:
    """A model logged by a run (`runs:/<run_id>/<path>`): `mlflow:<tracking uri>/runs/<run_id>/artifacts/<path>`.
    MLflow 3 stores a logged model's files outside the run, but its name (`mlflow.pyfunc.log_model(name=...)`)
    is still the path a `runs:/` URI gives, so both spellings name one model."""
    return f"mlflow:{mlflow_tracking_uri(tracking_uri)}/runs/{run_id}/artifacts/{artifact_path.strip('/')}"


def mlflow_run_id(run_id: str) -> str:
    """The run_id of a training run mirrored from MLflow (its qualifiedName is ml-run:mlflow-<run_id>)."""
    return f"mlflow-{run_id}"
