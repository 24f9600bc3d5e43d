"""OpenLineage RunEvents from any producer (our Spark listener, openlineage-spark, Airflow ...): the event
model, the HTTP receiver, and ingest, which applies events to Atlas through the governance registry."""
