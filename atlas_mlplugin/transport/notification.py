"""Atlas hook notifications as Atlas 2.1.0's NotificationHookConsumer reads them from ATLAS_HOOK.

Checked against Atlas 2.1.0 (the atlas-intg and atlas-notification jars of the server war, and the sources of
the same classes in apache/atlas):

- `intg/.../model/notification/HookNotification.java`: a request is `{"type": ..., "user": ...}` plus its
  payload; the V2 types are ENTITY_CREATE_V2 and ENTITY_FULL_UPDATE_V2 (`entities`: an
  AtlasEntitiesWithExtInfo, `{"entities": [...], "referredEntities": {...}}`), ENTITY_PARTIAL_UPDATE_V2
  (`entityId`: an AtlasObjectId, `entity`: an AtlasEntityWithExtInfo) and ENTITY_DELETE_V2 (`entities`: a
  list of AtlasObjectId).
- `intg/.../model/notification/AtlasNotificationBaseMessage.java` and `AtlasNotificationMessage.java`: the
  envelope `{"version": {"version": "1.0.0"}, "msgCompressionKind": "NONE", "msgSplitIdx": 1,
  "msgSplitCount": 1, "msgSourceIP": ..., "msgCreatedBy": ..., "msgCreationTime": <ms>, "message": {...}}`;
  null fields are left out (Jackson NON_NULL). The usable size is atlas.notification.message.max.length.bytes
  (default 1,000,000) less 512 bytes kept for the envelope.
- `notification/.../AbstractNotification.java` (createNotificationMessages): an envelope larger than that, in
  UTF-8, is GZIP-compressed and base64-encoded into an AtlasNotificationStringMessage (`message` is then that
  string, `msgId` set, `msgCompressionKind` GZIP); if that is still too large, the base64 text is cut into
  parts of at most the usable size, each its own message with `msgSplitIdx` 0..n-1 and `msgSplitCount` n.
- `notification/.../AtlasNotificationMessageDeserializer.java`: parts are joined by msgId in split-index order
  (a part that arrives before the first is dropped, so all parts go with one key, to one partition, in order),
  then decoded; a message of a newer version than 1.0.0 is refused.
- `NotificationHookConsumer.java`: ENTITY_CREATE_V2 and ENTITY_FULL_UPDATE_V2 both go to
  `AtlasEntityStore.createOrUpdate(entities, isPartialUpdate=false)`, the same call as REST's POST
  /v2/entity/bulk: an upsert by unique attribute, so a message delivered twice creates nothing twice.
  Classifications inside an entity are added when the entity is created and ignored when it is updated
  (EntityGraphMapper.mapAttributesAndClassifications with replaceClassifications=false).
"""

from __future__ import annotations

import base64
import getpass
import gzip
import json
import socket
import time
import uuid
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CURRENT_VERSION = "1.0.0"
DEFAULT_MAX_LENGTH_BYTES = 1_000_000  # atlas.notification.message.max.length.bytes
ENVELOPE_RESERVE = 512  # AtlasNotificationBaseMessage.MESSAGE_MAX_LENGTH_BYTES keeps this much for the envelope
UNKNOWN_USER = "UNKNOWN"


class HookNotificationType(str, Enum):
    ENTITY_CREATE_V2 = "ENTITY_CREATE_V2"
    ENTITY_PARTIAL_UPDATE_V2 = "ENTITY_PARTIAL_UPDATE_V2"
    ENTITY_FULL_UPDATE_V2 = "ENTITY_FULL_UPDATE_V2"
    ENTITY_DELETE_V2 = "ENTITY_DELETE_V2"


class CompressionKind(str, Enum):
    NONE = "NONE"
    GZIP = "GZIP"


class _Json(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        # Atlas's Jackson mapper leaves nulls out; so do we, so the bytes look like a Java hook's.
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class EntitiesWithExtInfo(_Json):
    entities: list[dict[str, Any]]
    referredEntities: dict[str, dict[str, Any]] = Field(default_factory=dict)


class EntityWithExtInfo(_Json):
    entity: dict[str, Any]
    referredEntities: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ObjectId(_Json):
    typeName: str
    uniqueAttributes: dict[str, Any] | None = None
    guid: str | None = None


class EntityCreateRequestV2(_Json):
    type: Literal[HookNotificationType.ENTITY_CREATE_V2] = HookNotificationType.ENTITY_CREATE_V2
    user: str = UNKNOWN_USER
    entities: EntitiesWithExtInfo


class EntityUpdateRequestV2(_Json):
    type: Literal[HookNotificationType.ENTITY_FULL_UPDATE_V2] = HookNotificationType.ENTITY_FULL_UPDATE_V2
    user: str = UNKNOWN_USER
    entities: EntitiesWithExtInfo


class EntityPartialUpdateRequestV2(_Json):
    type: Literal[HookNotificationType.ENTITY_PARTIAL_UPDATE_V2] = HookNotificationType.ENTITY_PARTIAL_UPDATE_V2
    user: str = UNKNOWN_USER
    entityId: ObjectId
    entity: EntityWithExtInfo


class EntityDeleteRequestV2(_Json):
    type: Literal[HookNotificationType.ENTITY_DELETE_V2] = HookNotificationType.ENTITY_DELETE_V2
    user: str = UNKNOWN_USER
    entities: list[ObjectId]


HookRequest = EntityCreateRequestV2 | EntityUpdateRequestV2 | EntityPartialUpdateRequestV2 | EntityDeleteRequestV2


class MessageVersion(_Json):
    version: str = CURRENT_VERSION


class NotificationMessage(_Json):
    """AtlasNotificationMessage: one hook request in Atlas's envelope."""

    version: MessageVersion = Field(default_factory=MessageVersion)
    msgId: str | None = None
    msgCompressionKind: CompressionKind = CompressionKind.NONE
    msgSplitIdx: int = 1
    msgSplitCount: int = 1
    msgSourceIP: str | None = None
    msgCreatedBy: str | None = None
    msgCreationTime: int
    message: dict[str, Any]


class NotificationStringMessage(_Json):
    """AtlasNotificationStringMessage: a compressed envelope, or one part of a split one (`message` is text)."""

    version: MessageVersion = Field(default_factory=MessageVersion)
    msgId: str
    msgCompressionKind: CompressionKind
    msgSplitIdx: int = 1
    msgSplitCount: int = 1
    message: str


def create_request(entities: list[dict[str, Any]], *, user: str | None = None) -> EntityCreateRequestV2:
    """ENTITY_CREATE_V2 for a batch: Atlas upserts it by unique attribute, as REST's bulk upsert does."""
    return EntityCreateRequestV2(user=user or current_user(), entities=EntitiesWithExtInfo(entities=entities))


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's random uid)
        return UNKNOWN_USER


def _source_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return ""  # what AbstractNotification sends when it cannot tell


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode(request: HookRequest, *, max_length_bytes: int = DEFAULT_MAX_LENGTH_BYTES,
           now_ms: int | None = None, msg_id: str | None = None) -> list[bytes]:
    """The Kafka message values for one request, as AbstractNotification.createNotificationMessages makes them:
    one plain envelope when it fits, else one GZIP+base64 message, else that text split into parts.

    All values must be sent with one key, in order (the consumer joins parts by msgId in index order)."""
    limit = max_length_bytes - ENVELOPE_RESERVE
    if limit <= 0:
        raise ValueError(f"atlas.notification.message.max.length.bytes={max_length_bytes} leaves no room for a "
                         f"message (Atlas keeps {ENVELOPE_RESERVE} bytes for the envelope); use the server's value")
    envelope = NotificationMessage(msgSourceIP=_source_ip(), msgCreatedBy=request.user,
                                   msgCreationTime=now_ms if now_ms is not None else int(time.time() * 1000),
                                   message=request.to_json())
    data = _dumps(envelope.to_json()).encode("utf-8")
    if len(data) <= limit:
        return [data]
    msg_id = msg_id or f"{uuid.uuid4()}_0"
    packed = base64.b64encode(gzip.compress(data)).decode("ascii")
    if len(packed) <= limit:
        single = NotificationStringMessage(msgId=msg_id, msgCompressionKind=CompressionKind.GZIP, message=packed)
        return [_dumps(single.to_json()).encode("utf-8")]
    parts = [packed[i:i + limit] for i in range(0, len(packed), limit)]
    return [_dumps(NotificationStringMessage(msgId=msg_id, msgCompressionKind=CompressionKind.GZIP, msgSplitIdx=i,
                                             msgSplitCount=len(parts), message=part).to_json()).encode("utf-8")
            for i, part in enumerate(parts)]


def decode(values: list[bytes]) -> dict[str, Any]:
    """The hook request carried by `values` (all parts of one message, in order), as Atlas's deserializer reads
    them; for tests and for `atlas-ml` tools that inspect what was sent."""
    first = json.loads(values[0])
    if first.get("msgSplitCount", 1) > 1:
        parts = [NotificationStringMessage.model_validate(json.loads(v)) for v in values]
        if [p.msgSplitIdx for p in parts] != list(range(first["msgSplitCount"])) or len({p.msgId for p in parts}) != 1:
            raise ValueError("the parts of a split notification are missing, out of order or of several messages")
        text = "".join(p.message for p in parts)
        raw = gzip.decompress(base64.b64decode(text)) if parts[0].msgCompressionKind is CompressionKind.GZIP \
            else base64.b64decode(text)
        first = json.loads(raw)
    elif first.get("msgCompressionKind") == CompressionKind.GZIP.value:
        first = json.loads(gzip.decompress(base64.b64decode(first["message"])))
    envelope = NotificationMessage.model_validate(first)
    if tuple(int(x) for x in envelope.version.version.split(".")) > (1, 0, 0):
        raise ValueError(f"notification version {envelope.version.version} is newer than {CURRENT_VERSION}")
    return envelope.message


# --- What Atlas publishes on ATLAS_ENTITIES (read by `atlas-ml watch`) -------------------------------------------
#
# Captured from Atlas 2.1.0 (tests/vectors/entity_notifications.json): the same envelope as the hook's, with
# `version` {"version": "1.0.0", "versionParts": [1]} and no key; `message` is an EntityNotificationV2,
# `{"type": "ENTITY_NOTIFICATION_V2", "entity": <AtlasEntityHeader>, "operationType": ..., "eventTime": <ms>}`.
# The header carries the entity's *current* classifications (direct and propagated, each with the guid of
# the entity it comes from), not the change. A propagated tag gives one CLASSIFICATION_ADD per entity it
# reaches (processes, datasets, models), all with the same eventTime, published once the transaction commits.
# Models are read leniently (extra fields ignored): the server adds header fields between versions.


class EntityOperation(str, Enum):
    ENTITY_CREATE = "ENTITY_CREATE"
    ENTITY_UPDATE = "ENTITY_UPDATE"
    ENTITY_DELETE = "ENTITY_DELETE"
    CLASSIFICATION_ADD = "CLASSIFICATION_ADD"
    CLASSIFICATION_DELETE = "CLASSIFICATION_DELETE"
    CLASSIFICATION_UPDATE = "CLASSIFICATION_UPDATE"
    ENTITY_IMPORT_CREATE = "ENTITY_IMPORT_CREATE"
    ENTITY_IMPORT_UPDATE = "ENTITY_IMPORT_UPDATE"
    ENTITY_IMPORT_DELETE = "ENTITY_IMPORT_DELETE"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class NotifiedClassification(_Lenient):
    typeName: str
    attributes: dict[str, Any] | None = None
    entityGuid: str | None = None  # the entity the tag is attached to: another guid means it was propagated
    propagate: bool | None = None


class NotifiedEntity(_Lenient):
    """AtlasEntityHeader as notifications carry it: the entity's identity and its tags after the change."""

    typeName: str
    guid: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    status: str | None = None
    classificationNames: list[str] = Field(default_factory=list)
    classifications: list[NotifiedClassification] = Field(default_factory=list)

    @property
    def qualified_name(self) -> str | None:
        value = self.attributes.get("qualifiedName")
        return value if isinstance(value, str) else None


class EntityNotificationV2(_Lenient):
    type: Literal["ENTITY_NOTIFICATION_V2"]
    entity: NotifiedEntity
    operationType: EntityOperation
    eventTime: int | None = None  # ms; the time of the change in Atlas, shared by every entity a tag reached


def decode_entity_notification(value: bytes) -> EntityNotificationV2 | None:
    """One ATLAS_ENTITIES record as Atlas 2.1.0 writes it; None for what is not an entity notification V2
    (a V1 ENTITY_NOTIFICATION from an old server, or a part of a split message, which the caller must join
    with the others of its msgId first: see `join_parts`). Raises ValueError on a malformed record."""
    raw = json.loads(value)
    if not isinstance(raw, dict):
        raise ValueError("an ATLAS_ENTITIES record that is not a JSON object")
    if raw.get("msgSplitCount", 1) > 1:
        return None
    if raw.get("msgCompressionKind") == CompressionKind.GZIP.value and isinstance(raw.get("message"), str):
        raw = json.loads(gzip.decompress(base64.b64decode(raw["message"])))
    version = str((raw.get("version") or {}).get("version", CURRENT_VERSION))
    if tuple(int(x) for x in version.split(".")) > (1, 0, 0):
        raise ValueError(f"notification version {version} is newer than {CURRENT_VERSION}")
    message = raw.get("message")
    if not isinstance(message, dict) or message.get("type") != "ENTITY_NOTIFICATION_V2":
        return None
    return EntityNotificationV2.model_validate(message)


def split_part(value: bytes) -> NotificationStringMessage | None:
    """The part of a split message this record is, or None for a whole one."""
    raw = json.loads(value)
    if isinstance(raw, dict) and raw.get("msgSplitCount", 1) > 1:
        known = set(NotificationStringMessage.model_fields) - {"version"}  # the server adds source ip, creator, time
        return NotificationStringMessage.model_validate({k: raw[k] for k in raw if k in known})
    return None


def join_parts(parts: list[NotificationStringMessage]) -> bytes:
    """The envelope a complete, in-order list of parts of one message carries (as Atlas's deserializer joins)."""
    if [p.msgSplitIdx for p in parts] != list(range(parts[0].msgSplitCount)) or len({p.msgId for p in parts}) != 1:
        raise ValueError("the parts of a split notification are missing, out of order or of several messages")
    text = "".join(p.message for p in parts)
    return gzip.decompress(base64.b64decode(text)) if parts[0].msgCompressionKind is CompressionKind.GZIP \
        else base64.b64decode(text)
