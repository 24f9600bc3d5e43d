"""The transports the spool's ops can take to Atlas, by name (in the spirit of the OpenLineage client's transport
registry): `rest` applies an op through the registry's REST calls (delivery/handler.py), `kafka` publishes it as
Atlas hook notifications (transport/hooks.py). Adding one is one module and one line in `TRANSPORTS`.

`transport_handler(name, registry)` builds the named one, run once our typedefs exist (delivery/handler.py
TypedefGuard); which name is configured is `settings.transport_name()` (ATLAS_ML_TRANSPORT, then
atlas.ml.transport in the properties files). The durable spool is in front of every transport: a handler only
ever sees ops already on disk, and one that raises a ConnectionError (Kafka down) leaves its op first in line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from atlas_mlplugin.atlas.errors import ConfigError
from atlas_mlplugin.delivery.handler import TypedefGuard, apply_op, guarded
from atlas_mlplugin.delivery.spool import SpoolOp
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.transport.settings import TRANSPORT_ENV, TRANSPORT_KEY

OpHandler = Callable[[SpoolOp], None]


class TransportFactory(Protocol):
    """Builds a transport's op handler, unguarded, for writes through `registry` (which also serves its reads)."""

    def __call__(self, registry: GovernanceRegistry) -> OpHandler: ...


def _rest(registry: GovernanceRegistry) -> OpHandler:
    return lambda op: apply_op(registry, op.kind, op.payload)


def _kafka(registry: GovernanceRegistry) -> OpHandler:
    from atlas_mlplugin.transport.hooks import kafka_handler  # only when chosen: it needs confluent-kafka

    return kafka_handler(registry)


TRANSPORTS: dict[str, TransportFactory] = {"rest": _rest, "kafka": _kafka}


def transport_handler(name: str, registry: GovernanceRegistry, *, typedefs: TypedefGuard | None = None) -> OpHandler:
    """The spool's handler for the transport called `name`, run once our types exist (see TypedefGuard).
    Raises ConfigError when no transport has that name, or when the transport's settings are unusable."""
    factory = TRANSPORTS.get(name.strip().lower())
    if factory is None:
        raise ConfigError(f"no transport is called {name!r}; expected one of {', '.join(sorted(TRANSPORTS))}",
                          key=TRANSPORT_ENV, hint=f"set {TRANSPORT_ENV} (or {TRANSPORT_KEY}) to one of those")
    guard = typedefs if typedefs is not None else TypedefGuard(registry.client)
    return guarded(guard, factory(registry))
