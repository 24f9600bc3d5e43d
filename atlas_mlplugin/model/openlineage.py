"""The part of an OpenLineage RunEvent the plugin reads, as a lenient pydantic model (other fields are kept
but ignored), from any producer: our Spark listener, openlineage-spark, Airflow ... (received and ingested
by atlas_mlplugin/openlineage/).

A dataset's Atlas name comes from naming.py (namespace + name -> qualifiedName, credentials removed), so a
path registered as an ml_dataset *is* the dataset a Spark job reads. Where the event entities are built:
mapping/openlineage.py.

Every event enters through `parse_run_event` (the receiver and the directory drain alike), so a file and a
POST are refused for the same reasons, with the same one-line words.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from atlas_mlplugin import naming
from atlas_mlplugin.limits import LimitError, check_json_nesting, check_name
from atlas_mlplugin.scrubbing import scrub_name

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

    @model_validator(mode="after")
    def _names_atlas_can_hold(self) -> RunEvent:
        """Every name that becomes an Atlas name passes the catalog's checks (limits.check_name). An event
        whose dataset name Atlas refuses (a line break in it gets HTTP 403 from Atlas 2.1.0's authorizer,
        indistinguishable from a missing permission) would otherwise hold up the whole event directory.
        Names are checked as Atlas would store them: scrubbed (a multi-line private key in a job name is one
        `***`)."""
        _check_stored_name(self.job.name, what="job.name")
        for side, datasets in (("inputs", self.inputs), ("outputs", self.outputs)):
            for index, dataset in enumerate(datasets):
                _check_stored_name(dataset.qualified_name, what=f"{side}.{index}: the dataset's name")
        return self


def _check_stored_name(name: str, *, what: str) -> None:
    """check_name on the name as Atlas stores it (scrubbed); a name scrubbing empties (a lone "?", whose empty
    query is dropped) is judged as given."""
    scrubbed = scrub_name(name)
    check_name(scrubbed if scrubbed.strip() else name, what=what)


ML_FACET = "atlasMl"


def is_training(event: RunEvent) -> bool:
    return ML_FACET in event.run.facets


class InvalidRunEventError(ValueError):
    """Bytes that are not an OpenLineage RunEvent. `str()` is one line saying why and never quotes the input
    (it goes into HTTP answers, logs and the reason file beside a rejected event, and the input may hold a
    credential)."""


def _refuse_constant(name: str) -> float:
    # Python's json reads NaN and Infinity, which are not JSON: an event stored with them is one that Atlas
    # and other consumers cannot read back.
    raise ValueError(f"{name} is not a JSON number")


_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def _first_problem(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "the event"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def parse_run_event_document(data: bytes | str) -> tuple[dict[str, Any], RunEvent]:
    """The JSON document and its RunEvent; InvalidRunEventError, and nothing else, for any other input.

    The nesting is checked before any parser sees the text: Python's json recurses per level and ends in
    RecursionError (a crash, not an answer) on a document nested a few thousand deep."""
    try:
        text = bytes(data).decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
    except UnicodeDecodeError as exc:
        raise InvalidRunEventError(f"not UTF-8 text (invalid byte at offset {exc.start}); send the event as "
                                   "UTF-8 encoded JSON") from None
    try:
        check_json_nesting(text, what="the event")
    except LimitError as exc:
        raise InvalidRunEventError(str(exc)) from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidRunEventError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # an integer past Python's digit limit, NaN, ...
        raise InvalidRunEventError(f"not JSON: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                   ) from None
    if not isinstance(document, dict):
        kind = _JSON_KINDS.get(type(document), type(document).__name__)
        raise InvalidRunEventError(f"a RunEvent is a JSON object, this is a JSON {kind}")
    try:
        return document, RunEvent.model_validate(document)
    except ValidationError as exc:
        raise InvalidRunEventError(_first_problem(exc)) from None
    except RecursionError:  # cannot happen below the nesting limit; an answer all the same if it does
        raise InvalidRunEventError("the event nests too deeply to be read; flatten it") from None


def parse_run_event(data: bytes | str) -> RunEvent:
    """An OpenLineage RunEvent from JSON text (a file of the event directory, a POSTed body), or
    InvalidRunEventError with a one-line reason."""
    return parse_run_event_document(data)[1]
