"""Writes deploy/grafana/tracesvc-dashboard.json (run from the repository root after changing a panel)."""

# ruff: noqa: E501, PLW0603  -- PromQL expressions are kept whole, one per line.

import json

DS = {"type": "prometheus", "uid": "${datasource}"}
panels = []
y = 0


def row(title):
    global y
    panels.append(
        {"type": "row", "title": title, "collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []}
    )
    y += 1


def panel(title, exprs, unit="short", kind="timeseries", *, w=8, h=8, x=0, desc=""):
    p = {
        "type": kind,
        "title": title,
        "description": desc,
        "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(65 + i), "datasource": DS, "expr": e, "legendFormat": legend}
            for i, (e, legend) in enumerate(exprs)
        ],
    }
    if kind == "timeseries":
        p["options"] = {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}}
    panels.append(p)


def line(*ps):
    global y
    x = 0
    for p in ps:
        p(x)
        x += 24 // len(ps)
    y += 8


R = "$__rate_interval"
row("Ingest")
line(
    lambda x: panel(
        "Events acknowledged by status",
        [(f"sum by (status) (rate(tracesvc_ingest_events_total[{R}]))", "{{status}}")],
        "ops",
        x=x,
        desc="STORED and DUPLICATE are committed; REJECTED, DENIED and CONFLICT were refused (see the acks).",
    ),
    lambda x: panel(
        "Events stored by kind",
        [(f'sum by (kind) (rate(tracesvc_ingest_events_total{{status="STORED"}}[{R}]))', "{{kind}}")],
        "ops",
        x=x,
    ),
    lambda x: panel("Trace codes stored", [(f"sum(rate(tracesvc_ingest_codes_total[{R}]))", "codes/s")], "ops", x=x),
)
line(
    lambda x: panel(
        "Commit latency (p50, p99)",
        [
            (f"histogram_quantile(0.5, sum by (le) (rate(tracesvc_ingest_commit_seconds_bucket[{R}])))", "p50"),
            (f"histogram_quantile(0.99, sum by (le) (rate(tracesvc_ingest_commit_seconds_bucket[{R}])))", "p99"),
        ],
        "s",
        x=x,
    ),
    lambda x: panel(
        "Events per batch (mean)",
        [
            (
                f"sum(rate(tracesvc_ingest_batch_events_sum[{R}])) / sum(rate(tracesvc_ingest_batch_events_count[{R}]))",
                "events/batch",
            )
        ],
        "short",
        x=x,
    ),
    lambda x: panel(
        "Refused share",
        [
            (
                f'sum(rate(tracesvc_ingest_events_total{{status=~"REJECTED|DENIED|CONFLICT"}}[{R}])) / sum(rate(tracesvc_ingest_events_total[{R}]))',
                "refused",
            )
        ],
        "percentunit",
        x=x,
    ),
)
row("Verify (the counter)")
V = 'grpc_service="tracesvc.v1.VerifyService",grpc_method="VerifyCodes"'
line(
    lambda x: panel(
        "VerifyCodes latency (p50, p99)",
        [
            (f"histogram_quantile(0.5, sum by (le) (rate(grpc_server_handling_seconds_bucket{{{V}}}[{R}])))", "p50"),
            (f"histogram_quantile(0.99, sum by (le) (rate(grpc_server_handling_seconds_bucket{{{V}}}[{R}])))", "p99"),
        ],
        "s",
        x=x,
        desc="Alert TracesvcVerifySlow at p99 > 250 ms.",
    ),
    lambda x: panel(
        "VerifyCodes calls",
        [(f"sum by (grpc_code) (rate(grpc_server_handled_total{{{V}}}[{R}]))", "{{grpc_code}}")],
        "reqps",
        x=x,
    ),
    lambda x: panel(
        "Verdicts",
        [(f"sum by (source, verdict) (rate(tracesvc_verify_verdicts_total[{R}]))", "{{source}} {{verdict}}")],
        "ops",
        x=x,
        desc="source=verify: VerifyCodes; source=sale: the verdicts on RecordSale acks.",
    ),
)
row("gRPC")
line(
    lambda x: panel(
        "Calls by method",
        [(f"sum by (grpc_service, grpc_method) (rate(grpc_server_started_total[{R}]))", "{{grpc_method}}")],
        "reqps",
        x=x,
    ),
    lambda x: panel(
        "Server-side error ratio",
        [
            (
                f'sum(rate(grpc_server_handled_total{{grpc_code=~"Unknown|Internal|Unavailable|DataLoss|DeadlineExceeded|ResourceExhausted"}}[{R}])) / sum(rate(grpc_server_handled_total[{R}]))',
                "errors",
            )
        ],
        "percentunit",
        x=x,
    ),
    lambda x: panel(
        "Non-OK codes",
        [
            (
                f'sum by (grpc_method, grpc_code) (rate(grpc_server_handled_total{{grpc_code!="OK"}}[{R}]))',
                "{{grpc_method}} {{grpc_code}}",
            )
        ],
        "reqps",
        x=x,
    ),
)
line(
    lambda x: panel(
        "Stream messages",
        [
            (f"sum(rate(grpc_server_msg_received_total[{R}]))", "received"),
            (f"sum(rate(grpc_server_msg_sent_total[{R}]))", "sent"),
        ],
        "ops",
        x=x,
    ),
    lambda x: panel(
        "Database pool",
        [
            ("sum(tracesvc_db_pool_in_use)", "in use"),
            ("sum(tracesvc_db_pool_waiting)", "waiting"),
            ("sum(tracesvc_db_pool_capacity)", "capacity"),
        ],
        "short",
        x=x,
    ),
    lambda x: panel("Instances up", [('sum(up{job=~"tracesvc.*"})', "up")], "short", x=x),
)
row("Reconciliation")
line(
    lambda x: panel(
        "Reconcile lag",
        [("max(tracesvc_reconcile_lag_seconds)", "lag")],
        "s",
        kind="stat",
        w=6,
        x=x,
        desc="Age of the oldest stored event no finished run has reconciled. Alert at 1 h.",
    ),
    lambda x: panel(
        "Newest run failed",
        [("max by (mode) (tracesvc_reconcile_last_run_failed)", "{{mode}}")],
        "bool_yes_no",
        kind="stat",
        w=6,
        x=x,
    ),
    lambda x: panel(
        "Since the last successful run",
        [("time() - max by (mode) (tracesvc_reconcile_last_success_timestamp_seconds)", "{{mode}}")],
        "s",
        kind="stat",
        w=6,
        x=x,
    ),
    lambda x: panel(
        "Newest run",
        [
            ("max by (mode) (tracesvc_reconcile_last_run_codes)", "{{mode}} codes"),
            ("max by (mode) (tracesvc_reconcile_last_run_flags_new)", "{{mode}} new flags"),
            ("max by (mode) (tracesvc_reconcile_last_run_flags_resolved)", "{{mode}} resolved"),
        ],
        "short",
        kind="stat",
        w=6,
        x=x,
    ),
)
line(
    lambda x: panel(
        "Flags standing by rule and status",
        [("max by (rule, status) (tracesvc_flags)", "{{rule}} {{status}}")],
        "short",
        x=x,
    ),
    lambda x: panel(
        "Runs ended (served runs)",
        [("sum by (mode, status) (increase(tracesvc_reconcile_runs_total[1h]))", "{{mode}} {{status}}")],
        "short",
        x=x,
        desc="Runs executed by the server (RunReconciliation). CronJob runs show in the panels above, read from the database.",
    ),
    lambda x: panel(
        "Run duration, codes and flags per served run",
        [
            (
                "sum by (mode) (rate(tracesvc_reconcile_run_seconds_sum[1h])) / sum by (mode) (rate(tracesvc_reconcile_run_seconds_count[1h]))",
                "{{mode}} seconds/run",
            ),
            (
                "sum by (mode) (increase(tracesvc_reconcile_codes_total[1h])) / sum by (mode) (increase(tracesvc_reconcile_runs_total[1h]))",
                "{{mode}} codes/run",
            ),
            (
                'sum by (mode) (increase(tracesvc_reconcile_flags_total{change="new"}[1h])) / sum by (mode) (increase(tracesvc_reconcile_runs_total[1h]))',
                "{{mode}} new flags/run",
            ),
        ],
        "short",
        x=x,
    ),
)
for i, p in enumerate(panels):
    p["id"] = i + 1
dash = {
    "uid": "tracesvc",
    "title": "tracesvc",
    "tags": ["tracesvc", "grpc"],
    "timezone": "browser",
    "schemaVersion": 39,
    "version": 1,
    "editable": True,
    "refresh": "30s",
    "time": {"from": "now-6h", "to": "now"},
    "templating": {
        "list": [
            {
                "name": "datasource",
                "label": "Prometheus",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
            }
        ]
    },
    "annotations": {"list": []},
    "panels": panels,
}
with open("deploy/grafana/tracesvc-dashboard.json", "w", encoding="utf-8") as out:
    json.dump(dash, out, indent=2, ensure_ascii=False)
    out.write("\n")
print(len(panels))
