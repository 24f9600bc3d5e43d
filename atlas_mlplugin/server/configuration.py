"""The configuration files of the local Atlas: storage, index, notifications, audit and auth.

Choices (facts from Atlas's own sources and test setups):
- BerkeleyDB storage and a one-node SolrCloud with an embedded ZooKeeper, both started inside the Atlas JVM
  (resources/bootstrap/local_atlas_bootstrap.groovy) with their data in the state directory, so no HBase,
  Cassandra or external Solr is needed and the catalog survives restarts. Atlas's own embedded Solr
  (`solr.embedded=true`) is not used: it starts empty, in a new directory, every time.
- Embedded Kafka and ZooKeeper for notifications: Atlas cannot switch entity notifications off. The broker
  listens on the loopback for Atlas itself; with ExternalKafka (a container's published port) it also listens
  for clients elsewhere on a second listener, which advertises the address those clients use. Atlas 2.1.0's
  EmbeddedKafkaServer hands every `atlas.kafka.*` key to the broker (KafkaConfig.fromProps), and Kafka answers
  each client with the addresses of the listener it connected through, so Atlas keeps 127.0.0.1 and a client
  on the host gets the mapped port.
- Entity audit in BerkeleyDB (resources/bootstrap/PersistentEntityAuditRepository.groovy): Atlas 2.1.0's only
  persistent audit stores need HBase or Cassandra, and its in-memory one loses every audit at a restart.
- Free-text search stays off, as with Atlas's embedded Solr; basic search with filters works.
- File-based users and the simple authorizer: one admin user whose password is generated per state dir.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, Field

AUDIT_REPOSITORY = "org.apache.atlas.mlplugin.audit.PersistentEntityAuditRepository"
AUDIT_MAX_RECORD_BYTES = 32_768


class Ports(BaseModel):
    http: int
    kafka_zookeeper: int
    kafka_broker: int
    solr: int = 0  # Solr's HTTP port; its ZooKeeper listens on solr + 1000 (SolrCloud's embedded ZooKeeper)

    @property
    def solr_zookeeper(self) -> int:
        return self.solr + 1000


class ExternalKafka(BaseModel):
    """A listener of the embedded broker for Kafka clients outside this host or container (the kafka transport
    of jobs on the Docker host): `port` is listened on at the bind address, `advertised` (HOST:PORT) is where
    those clients reach it, e.g. the host port a container's `port` is published on."""

    port: int = Field(ge=1, le=65535)
    advertised: str = Field(pattern=r"^[^\s:/]+:[0-9]{1,5}$")


def password_hash(user: str, password: str) -> str:
    """Atlas's file authenticator stores sha256 of "password{user}" (the user name salts the hash)."""
    return hashlib.sha256(f"{password}{{{user}}}".encode()).hexdigest()


def kafka_listeners(ports: Ports, bind_address: str, external: ExternalKafka) -> dict[str, str]:
    """The broker's listener settings (atlas.kafka.* keys) for an external listener beside Atlas's own."""
    internal = f"INTERNAL://127.0.0.1:{ports.kafka_broker}"
    return {
        "atlas.kafka.listeners": f"{internal},EXTERNAL://{bind_address}:{external.port}",
        "atlas.kafka.advertised.listeners": f"{internal},EXTERNAL://{external.advertised}",
        "atlas.kafka.listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        "atlas.kafka.inter.broker.listener.name": "INTERNAL",
    }


def application_properties(*, home: Path, ports: Ports, bind_address: str,
                           external_kafka: ExternalKafka | None = None) -> str:
    conf = home / "conf"
    data = home / "data"
    props = {
        "atlas.graph.storage.backend": "berkeleyje",
        "atlas.graph.storage.directory": data / "berkeley",
        "atlas.graph.storage.lock.wait-time": 10000,
        # JanusGraph records each open graph instance by host address and pid, and refuses to open when the
        # record of a killed JVM with the same address and pid is left (a container restarted after
        # `docker kill` has both). BerkeleyDB's own lock and the launcher's state lock keep a second JVM out.
        "atlas.graph.graph.replace-instance-if-exists": "true",
        "atlas.graph.index.search.backend": "solr",
        "atlas.graph.index.search.solr.mode": "cloud",
        "atlas.graph.index.search.solr.embedded": "false",
        "atlas.graph.index.search.solr.zookeeper-url": f"127.0.0.1:{ports.solr_zookeeper}",
        "atlas.graph.index.search.solr.zookeeper-connect-timeout": 60000,
        "atlas.graph.index.search.solr.zookeeper-session-timeout": 60000,
        "atlas.graph.index.search.solr.wait-searcher": "true",
        "atlas.graph.index.search.max-result-set-size": 150,
        "atlas.search.freetext.enable": "false",
        "atlas.EntityAuditRepository.impl": AUDIT_REPOSITORY,
        "atlas.EntityAuditRepository.local.directory": data / "audit",
        # Longer audit records keep the change without the entity's attribute values (see the repository).
        "atlas.EntityAuditRepository.local.max.record.bytes": AUDIT_MAX_RECORD_BYTES,
        "atlas.notification.embedded": "true",
        "atlas.kafka.data": data / "kafka",
        "atlas.kafka.zookeeper.connect": f"127.0.0.1:{ports.kafka_zookeeper}",
        "atlas.kafka.bootstrap.servers": f"127.0.0.1:{ports.kafka_broker}",
        "atlas.kafka.zookeeper.session.timeout.ms": 4000,
        "atlas.kafka.zookeeper.connection.timeout.ms": 2000,
        "atlas.kafka.zookeeper.sync.time.ms": 20,
        "atlas.kafka.auto.commit.interval.ms": 1000,
        "atlas.kafka.hook.group.id": "atlas",
        "atlas.kafka.enable.auto.commit": "false",
        "atlas.kafka.auto.offset.reset": "earliest",
        "atlas.kafka.session.timeout.ms": 30000,
        "atlas.kafka.offsets.topic.replication.factor": 1,
        **(kafka_listeners(ports, bind_address, external_kafka) if external_kafka else {}),
        "atlas.notification.create.topics": "true",
        "atlas.notification.replicas": 1,
        "atlas.notification.topics": "ATLAS_HOOK,ATLAS_ENTITIES",
        "atlas.enableTLS": "false",
        "atlas.server.http.port": ports.http,
        "atlas.server.bind.address": bind_address,
        "atlas.rest.address": f"http://{bind_address}:{ports.http}",
        "atlas.server.ha.enabled": "false",
        "atlas.authentication.method.kerberos": "false",
        "atlas.authentication.method.file": "true",
        "atlas.authentication.method.ldap.type": "none",
        "atlas.authentication.method.file.filename": conf / "users-credentials.properties",
        "atlas.authorizer.impl": "simple",
        "atlas.authorizer.simple.authz.policy.file": conf / "atlas-simple-authz-policy.json",
        # CSRF protection applies to browsers only; REST clients are told apart by user agent.
        "atlas.rest-csrf.enabled": "true",
        "atlas.rest-csrf.browser-useragents-regex": "^Mozilla.*,^Opera.*,^Chrome.*",
        "atlas.rest-csrf.methods-to-ignore": "GET,OPTIONS,HEAD,TRACE",
        "atlas.rest-csrf.custom-header": "X-XSRF-HEADER",
        "atlas.search.gremlin.enable": "false",
        "atlas.ui.default.version": "v2",
    }
    lines = ["# Written by `atlas-ml server start`; edits are overwritten on the next start."]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def authz_policy() -> str:
    """The simple authorizer's policy: members of group ADMIN get every permission."""
    everything = [".*"]
    admin_role = {
        "adminPermissions": [{"privileges": everything}],
        "typePermissions": [{"privileges": everything, "typeCategories": everything, "typeNames": everything}],
        "entityPermissions": [{
            "privileges": everything, "entityTypes": everything, "entityIds": everything,
            "classifications": everything, "labels": everything, "businessMetadata": everything,
            "attributes": everything,
        }],
        "relationshipPermissions": [{
            "privileges": everything, "relationshipTypes": everything,
            "end1EntityType": everything, "end1EntityId": everything, "end1EntityClassification": everything,
            "end2EntityType": everything, "end2EntityId": everything, "end2EntityClassification": everything,
        }],
    }
    policy = {"roles": {"ROLE_ADMIN": admin_role}, "userRoles": {}, "groupRoles": {"ADMIN": ["ROLE_ADMIN"]}}
    return json.dumps(policy, indent=2) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, from the first byte on (it holds a password or its hash)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def write_configuration(*, home: Path, ports: Ports, bind_address: str, user: str, password: str,
                        external_kafka: ExternalKafka | None = None) -> Path:
    """Write every file Atlas reads from `atlas.conf`; returns that directory."""
    conf = home / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "atlas-application.properties").write_text(
        application_properties(home=home, ports=ports, bind_address=bind_address, external_kafka=external_kafka)
    )
    write_private(conf / "users-credentials.properties", f"{user}=ADMIN::{password_hash(user, password)}\n")
    (conf / "atlas-simple-authz-policy.json").write_text(authz_policy())
    log4j = resources.files("atlas_mlplugin.server.resources").joinpath("atlas-log4j.xml")
    (conf / "atlas-log4j.xml").write_text(log4j.read_text())
    return conf
