#!/usr/bin/env bash
# A national full reconciliation run on a Spark cluster (DESIGN.md §6). Example values; adapt.
# Sizing: deploy/spark-capacity.md (cores and hours from the measured per-core rate).
#
# Build once, on a machine with the project checked out:
#   pip wheel --no-deps -w dist .                     # dist/tracesvc-*.whl
#   (cd dist && cp tracesvc-*.whl tracesvc.zip)       # a wheel is a zip: --py-files takes it
# Every node needs Python 3.11 with the project's dependencies (`pip install 'tracesvc[spark]'`,
# or a packed venv via --archives), Java 17, and the JDBC jar from libpostgresql-jdbc-java.
#
# The driver is the `reconciler` command itself (deploy/spark_driver.py), with the same flags as
#   reconciler run --full --engine spark --master … --buckets N [--from-parquet DIR] [--jdbc-jar JAR]
# so the run is recorded in reconcile_runs (engine SPARK, counts, FAILED with the reason) exactly as
# from the CLI, with the rule B parameters of TRACESVC_B_* and the clock skew of the environment.
# Executors connect to PostgreSQL themselves (DATABASE_URL must be a TCP address they can reach)
# and write flags shard by shard; the driver gets counts only.
#
# Where the events come from:
#   PARQUET unset  JDBC reads from DATABASE_URL, one query per bucket. Each bucket's query scans
#                  the whole event table (the bucket is a hash, no index serves it), so keep
#                  BUCKETS small (a few per executor core) — fine for a province, not for 100 bn.
#   PARQUET=DIR    a lake path every executor can read (hdfs://, s3a://, a shared mount), written by
#                    spark-submit … deploy/spark_driver.py export-parquet DIR --master "$MASTER" --buckets N
#                  (or by each province's own export). PostgreSQL then serves only the flag writes.
#                  This is the national set-up.
#   The daily run (DESIGN §6; sizing in spark-capacity.md): after day D ends (Asia/Shanghai) each
#   province appends it, replacing the day whole if it was exported before,
#     … deploy/spark_driver.py export-parquet DIR --day 2026-11-03 --province 11 --master "$MASTER" --buckets 64
#   then the national job judges what day D touched, each key with its whole history from the lake:
#     … deploy/spark_driver.py run --incremental --engine spark --day 2026-11-03 --master "$MASTER" --buckets "$BUCKETS" --from-parquet DIR
#   and sends what that run changed back to the provinces each flag concerns (LAKE/findings/day=D/province=P):
#     … deploy/spark_driver.py export-findings DIR --day 2026-11-03 --master "$MASTER"
#   which each province merges into its own database (its DATABASE_URL; origin NATIONAL) with
#     … deploy/spark_driver.py import-findings DIR --day 2026-11-03 --province 11 --master "$MASTER"
#   An interrupted run is resumed (every bucket redone, idempotent) with
#     … deploy/spark_driver.py run --resume RUN_ID --master "$MASTER" --buckets "$BUCKETS" [--from-parquet DIR]
set -euo pipefail

: "${DATABASE_URL:?postgresql://reconciler:…@pg.national.example:5432/tracesvc}"
MASTER=${MASTER:-spark://spark-master.example:7077}      # or k8s://https://…, yarn
JAR=${JAR:-/usr/share/java/postgresql.jar}
BUCKETS=${BUCKETS:-4096}                                 # ~ 25 M events per bucket at 100 bn
PARQUET=${PARQUET:-}                                     # e.g. s3a://trace-lake/events

SOURCE=()
if [[ -n "$PARQUET" ]]; then
  SOURCE=(--from-parquet "$PARQUET")
fi

spark-submit \
  --master "$MASTER" \
  --deploy-mode client \
  --name "tracesvc-reconcile-$(date -u +%Y%m%dT%H%M)" \
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
  deploy/spark_driver.py run --full --engine spark --quiet \
    --master "$MASTER" --buckets "$BUCKETS" --jdbc-jar "$JAR" "${SOURCE[@]}"
