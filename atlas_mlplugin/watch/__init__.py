"""`atlas-ml watch`: verdicts that re-check themselves when Atlas says a model's tags changed.

consumer.py reads ATLAS_ENTITIES and commits offsets after the work; coalesce.py turns a poll batch into
the set of models to re-check; recheck.py re-evaluates each release context recorded on them and writes a
verdict back only when it changed; alerts.py says so (JSON lines, webhook); restore.py puts back derived
tags removed by hand; expiry.py finds the models whose accepted risk ran out (no notification says so).
"""
