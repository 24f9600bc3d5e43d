"""The part of an OpenLineage RunEvent the plugin reads, as a lenient pydantic model (other fields are kept
but ignored), from any producer: our Spark listener, openlineage-spark, Airflow ... (received and ingested
by atlas_mlplugin/openlineage/).

A dataset's Atlas name comes from naming.py (namespace + name -> qualifiedName, credentials removed), so a
path registered as an ml_dataset *is* the dataset a Spark job reads. Where the event entities are built:
mapping/openlineage.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from atlas_mlplugin import naming

EventType = Literal["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class OLDataset(_Lenient):
    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)
    facets: dict[str, Any] = Field(default_factory=dict)
    outputFacets: dict[str, Any] = Field(default_factory=dict)  # noqa: N815 - OpenLineage field name

    @property
    def qualified_name(self) -> str:
        """Its Atlas name. A catalog table is named by the table: openlineage-spark reports a table by its
        files with the table as a TABLE symlink (our listener the other way round), and both must land on
        one dataset."""
        symlinks = self.facets.get("symlinks") if isinstance(self.facets.get("symlinks"), dict) else {}
        for ident in symlinks.get("identifiers") or []:
            if isinstance(ident, dict) and ident.get("type") == "TABLE" and ident.get("namespace") \
                    and ident.get("name"):
                return naming.qualified_name(str(ident["namespace"]), str(ident["name"]))
        return naming.qualified_name(self.namespace, self.name)


class OLJob(_Lenient):
    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)
    facets: dict[str, Any] = Field(default_factory=dict)


class OLRun(_Lenient):
    runId: str = Field(min_length=1)  # noqa: N815
    facets: dict[str, Any] = Field(default_factory=dict)


class RunEvent(_Lenient):
    """The part of an OpenLineage RunEvent the mapping reads; other fields are kept but ignored."""

    eventType: EventType = "OTHER"  # noqa: N815
    eventTime: datetime  # noqa: N815
    producer: str = ""
    run: OLRun
    job: OLJob
    inputs: list[OLDataset] = Field(default_factory=list)
    outputs: list[OLDataset] = Field(default_factory=list)


ML_FACET = "atlasMl"


def is_training(event: RunEvent) -> bool:
    return ML_FACET in event.run.facets
