#!/usr/bin/env bash
# A national full reconciliation run on a Spark cluster (DESIGN.md §6). Example values; adapt.
#
# Build once, on a machine with the project checked out:
#   pip wheel --no-deps -w dist .                     # dist/tracesvc-*.whl
#   (cd dist && cp tracesvc-*.whl tracesvc.zip)       # a wheel is a zip: --py-files takes it
# Every node needs Python 3.11 with the project's dependencies (`pip install 'tracesvc[spark]'`,
# or a packed venv via --archives), Java 17, and the JDBC jar from libpostgresql-jdbc-java.
#
# The run is recorded first (so it has a run id and appears in ListRuns), then executed by
# `reconciler run --resume` as the Spark driver; executors connect to PostgreSQL themselves
# (DATABASE_URL must be a TCP address they can reach) and write flags shard by shard.
set -euo pipefail

: "${DATABASE_URL:?postgresql://reconciler:…@pg.national.example:5432/tracesvc}"
MASTER=${MASTER:-spark://spark-master.example:7077}      # or k8s://https://…, yarn
JAR=${JAR:-/usr/share/java/postgresql.jar}
BUCKETS=${BUCKETS:-4096}                                 # ~ 25 M events per bucket at 100 bn

RUN_ID=$(python - <<'PY'
import asyncio, os
from reconciler.jobs import Engine, Mode, Reconciler
from tracesvc.store.db import create_engine
async def main():
    engine = create_engine(os.environ["DATABASE_URL"])
    print((await Reconciler(engine).start(Mode.FULL, engine=Engine.SPARK)).run_id)
    await engine.dispose()
asyncio.run(main())
PY
)

spark-submit \
  --master "$MASTER" \
  --deploy-mode client \
  --name "tracesvc-reconcile-$RUN_ID" \
  --jars "$JAR" \
  --py-files dist/tracesvc.zip \
  --driver-memory 2g \
  --executor-cores 4 \
  --executor-memory 8g \
  --conf spark.executor.memoryOverhead=4g \
  --conf spark.python.worker.memory=1g \
  --conf spark.sql.session.timeZone=UTC \
  --conf spark.dynamicAllocation.enabled=true \
  --conf spark.dynamicAllocation.maxExecutors=100 \
  deploy/spark_driver.py run --resume "$RUN_ID" --quiet --master "$MASTER" --buckets "$BUCKETS"
