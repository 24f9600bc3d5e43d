"""Which models a batch of entity notifications asks to re-check: each once, however many events reached it.

A retraction that reaches 300 models arrives as one CLASSIFICATION_ADD per reached entity (datasets, runs and
models, see transport/notification.py); only the models' own events matter, since each model gets its own.
"""

from __future__ import annotations

from collections.abc import Iterable

from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.transport.notification import EntityNotificationV2, EntityOperation

# What can change a verdict: a tag added, changed or removed (direct or propagated), or the model's attributes.
# A deleted model has nothing left to release; a created one has no recorded release context yet.
RECHECK_OPERATIONS = frozenset({EntityOperation.CLASSIFICATION_ADD, EntityOperation.CLASSIFICATION_UPDATE,
                                EntityOperation.CLASSIFICATION_DELETE, EntityOperation.ENTITY_UPDATE,
                                EntityOperation.ENTITY_IMPORT_UPDATE})


def affected_models(notifications: Iterable[EntityNotificationV2],
                    model_types: frozenset[str] = frozenset({n.ML_MODEL})) -> dict[str, EntityNotificationV2]:
    """Model guid -> the latest notification about it, in order of first appearance."""
    latest: dict[str, EntityNotificationV2] = {}
    deleted: set[str] = set()
    for note in notifications:
        entity = note.entity
        if entity.typeName not in model_types:
            continue
        if note.operationType in (EntityOperation.ENTITY_DELETE, EntityOperation.ENTITY_IMPORT_DELETE) \
                or entity.status == "DELETED":
            deleted.add(entity.guid)
            continue
        if note.operationType in RECHECK_OPERATIONS:
            latest[entity.guid] = note
    return {guid: note for guid, note in latest.items() if guid not in deleted}
