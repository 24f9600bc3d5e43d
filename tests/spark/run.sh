#!/usr/bin/env bash
# The Spark listener's whole test suite, on both Spark lines:
#   1. builds both jars with Maven (their JUnit tests run in the build),
#   2. makes (once) a virtualenv per line under .state/ with the pyspark the jar is built against,
#   3. runs tests/spark with real local Spark in each.
# usage: bash tests/spark/run.sh [spark35|spark4 ...] [-- pytest args]
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}

lines=()
while [[ $# -gt 0 && $1 != "--" ]]; do lines+=("$1"); shift; done
[[ ${1:-} == "--" ]] && shift
[[ ${#lines[@]} -eq 0 ]] && lines=(spark35 spark4)

# the Spark version of a Maven profile, read from the pom so that there is one place to change it
spark_version() {
  "$PYTHON" - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
ns = {"m": "http://maven.apache.org/POM/4.0.0"}
root = ET.parse("spark_listener/pom.xml").getroot()
for p in root.findall("m:profiles/m:profile", ns):
    if p.findtext("m:id", namespaces=ns) == sys.argv[1]:
        print(p.findtext("m:properties/m:spark.version", namespaces=ns))
PY
}

status=0
for line in "${lines[@]}"; do
  version=$(spark_version "$line")
  [[ -n $version ]] || { echo "unknown line $line (spark35 or spark4)" >&2; exit 2; }
  venv=.state/venv-$line
  echo "== $line: Spark $version"
  (cd spark_listener && mvn -B -q -P "$line" package)
  if ! "$venv/bin/python" -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$version')" 2>/dev/null; then
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q "pyspark==$version" "pytest>=8" "jsonschema>=4.18" "openlineage-python>=1.20"
  fi
  "$venv/bin/python" -m pytest tests/spark -p no:cacheprovider "$@" || status=1
done
exit $status
