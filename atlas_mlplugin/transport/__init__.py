"""Transports for our writes to Atlas: REST (the default: atlas/client.py) and Atlas's own hook pipeline, Kafka
(notifications on ATLAS_HOOK that Atlas's NotificationHookConsumer applies). `settings.transport_name` says
which one a command or hook uses (--transport, else $ATLAS_ML_TRANSPORT, else atlas.ml.transport in the
properties files, else rest).

Modules: notification.py (Atlas's envelope, splitting and compression), settings.py (atlas.kafka.* settings),
kafka.py (the bounded producer), lineage.py (an OpenLineage event as one hook notification), hooks.py (the
Python hooks' spooled ops as hook notifications), registry.py (the transports of the spool's ops, by name)."""
