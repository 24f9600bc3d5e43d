"""OpenLineage RunEvents from any producer (our Spark listener, openlineage-spark, Airflow ...): the HTTP
receiver and ingest, which applies events to Atlas through the governance registry. The event model is
model/openlineage.py; the event -> entity mapping is mapping/openlineage.py."""
