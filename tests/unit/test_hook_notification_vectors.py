"""tests/vectors/hook_notifications.json: the hook request atlas_mlplugin/transport/lineage.py publishes for an
OpenLineage event, given what Atlas holds. The JVM listener's kafka transport is held to the same file
(spark_listener HookNotificationsVectorsTest), so both sides publish the same notification for the same event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atlas_mlplugin.model.openlineage import RunEvent
from atlas_mlplugin.transport.lineage import build_batch, message_entities
from atlas_mlplugin.transport.notification import create_request, decode, encode

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "hook_notifications.json").read_text())


def published(vector: dict[str, Any]) -> dict[str, Any]:
    event = RunEvent.model_validate(vector["event"])
    known = vector["known"]
    batch = build_batch(event, registered=known["registeredInputs"],
                        existing_outputs=known["existingOutputs"], process_exists=known["processExists"])
    return create_request(message_entities(batch), user=vector["user"]).to_json()


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["description"])
def test_lineage_publishes_the_shared_vectors_message(vector: dict[str, Any]) -> None:
    message = published(vector)
    assert message == vector["message"]
    assert "s3cr3t" not in json.dumps(message) and "hunter2" not in json.dumps(message)
    # what Atlas's consumer reads back from the envelope is that request
    assert decode(encode(create_request(message["entities"]["entities"], user=vector["user"]))) == message


def test_the_vectors_cover_what_the_listener_publishes() -> None:
    """Placeholders with UnknownLicense, IncompleteLineage, a training run to a model, an existing process."""
    messages = json.dumps([v["message"] for v in VECTORS["vectors"]])
    for needed in ('"UnknownLicense"', '"IncompleteLineage"', '"ml_training_run"', '"ml_model"', '"FAILED"'):
        assert needed in messages
    assert any(v["known"]["processExists"] for v in VECTORS["vectors"])
