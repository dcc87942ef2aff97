#!/usr/bin/python3
# Parses the /metrics page that tests/t-metrics --render prints with the
# Prometheus client library's own parser (Debian's python3-prometheus-client)
# and checks names, types and values against the fixture in t-metrics.c.
import os
import subprocess

import pstest as T

T.require("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa

text = subprocess.run([os.path.join(T.BUILDDIR, "tests", "t-metrics"),
                       "--render"], check=True, capture_output=True,
                      text=True).stdout

T.plan(17)
fams = {f.name: f for f in text_string_to_metric_families(text)}


def sample(fam, name, **labels):
    for s in fams[fam].samples:
        if s.name == name and all(s.labels.get(k) == v
                                  for k, v in labels.items()):
            return s.value
    return None


T.ok(all(n.startswith("psctl_") for n in fams), "every family is psctl_*")
T.is_eq(fams["psctl_build_info"].type, "gauge", "build info is a gauge")
T.is_eq(sample("psctl_build_info", "psctl_build_info", version="9.8.7"), 1.0,
        "build info carries the version label and the value 1")
T.is_eq(fams["psctl_pushes"].type, "counter",
        "pushes_total parses as a counter family")
T.is_eq(sample("psctl_pushes", "psctl_pushes_total"), 800.0,
        "800 pushes")
T.is_eq(sample("psctl_rejected", "psctl_rejected_total", reason="nonfinite"),
        2.0, "two rejected as nonfinite")
T.is_eq(sample("psctl_received_bytes", "psctl_received_bytes_total"),
        3200000000.0, "bytes received in base units")
T.is_eq(sample("psctl_sent_bytes", "psctl_sent_bytes_total"),
        3200000123.0, "bytes sent exactly")
T.is_eq(sample("psctl_model_version", "psctl_model_version"), 812.0,
        "model version 812")
T.is_eq(sample("psctl_tensor_l2_norm", "psctl_tensor_l2_norm",
               tensor='we"ird\\name'), 4.0,
        "an escaped tensor name reads back as it was")
T.is_eq(sample("psctl_checkpoints", "psctl_checkpoints_total", result="error"),
        1.0, "one failed checkpoint")
h = fams["psctl_update_apply_duration_seconds"]
T.is_eq(h.type, "histogram", "apply time is a histogram")
buckets = [(s.labels["le"], s.value) for s in h.samples
           if s.name.endswith("_bucket")]
T.is_eq(buckets, [("0.001", 1.0), ("0.01", 2.0), ("0.1", 2.0),
                  ("+Inf", 3.0)], "its buckets are cumulative")
T.is_eq(sample("psctl_update_apply_duration_seconds",
               "psctl_update_apply_duration_seconds_count"), 3.0,
        "three updates timed")
T.ok(abs(sample("psctl_update_apply_duration_seconds",
                "psctl_update_apply_duration_seconds_sum") - 0.5025) < 1e-12,
     "their sum is 0.5025 s")
T.is_eq(sample("psctl_checkpoint_duration_seconds",
               "psctl_checkpoint_duration_seconds_bucket", le="0.05"), 1.0,
        "the 0.02 s checkpoint falls in le=0.05")
T.is_eq(sample("psctl_workers_connected", "psctl_workers_connected"), 3.0,
        "three workers connected")
T.done()
