#!/usr/bin/python3
# Parses the /metrics page that tests/t-metrics --render prints with the
# Prometheus client library's own parser (Debian's python3-prometheus-client)
# and checks names, types and values against the fixture in t-metrics.c.
import os
import subprocess
import sys



class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def plan(self, n):
        print("1..%d" % n, flush=True)

    def skip_all(self, why):
        print("1..0 # SKIP %s" % why, flush=True)
        sys.exit(0)

    def ok(self, cond, desc):
        self.n += 1
        if not cond:
            self.failed += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, desc),
              flush=True)
        return cond

    def is_eq(self, got, want, desc):
        if not self.ok(got == want, desc):
            print("# got %r, want %r" % (got, want), flush=True)

    def exit_status(self):
        return 1 if self.failed else 0


t = Tap()
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    t.skip_all("python3-prometheus-client is not installed")

builddir = os.path.dirname(os.path.dirname(os.environ["PSCTL"]))
text = subprocess.run([os.path.join(builddir, "tests", "t-metrics"),
                       "--render"], check=True, capture_output=True,
                      text=True).stdout

t.plan(17)
fams = {f.name: f for f in text_string_to_metric_families(text)}


def sample(fam, name, **labels):
    for s in fams[fam].samples:
        if s.name == name and all(s.labels.get(k) == v
                                  for k, v in labels.items()):
            return s.value
    return None


t.ok(all(n.startswith("psctl_") for n in fams), "every family is psctl_*")
t.is_eq(fams["psctl_build_info"].type, "gauge", "build info is a gauge")
t.is_eq(sample("psctl_build_info", "psctl_build_info", version="9.8.7"), 1.0,
        "build info carries the version label and the value 1")
t.is_eq(fams["psctl_pushes"].type, "counter",
        "pushes_total parses as a counter family")
t.is_eq(sample("psctl_pushes", "psctl_pushes_total"), 800.0,
        "800 pushes")
t.is_eq(sample("psctl_rejected", "psctl_rejected_total", reason="nonfinite"),
        2.0, "two rejected as nonfinite")
t.is_eq(sample("psctl_received_bytes", "psctl_received_bytes_total"),
        3200000000.0, "bytes received in base units")
t.is_eq(sample("psctl_sent_bytes", "psctl_sent_bytes_total"),
        3200000123.0, "bytes sent exactly")
t.is_eq(sample("psctl_model_version", "psctl_model_version"), 812.0,
        "model version 812")
t.is_eq(sample("psctl_tensor_l2_norm", "psctl_tensor_l2_norm",
               tensor='we"ird\\name'), 4.0,
        "an escaped tensor name reads back as it was")
t.is_eq(sample("psctl_checkpoints", "psctl_checkpoints_total", result="error"),
        1.0, "one failed checkpoint")
h = fams["psctl_update_apply_duration_seconds"]
t.is_eq(h.type, "histogram", "apply time is a histogram")
buckets = [(s.labels["le"], s.value) for s in h.samples
           if s.name.endswith("_bucket")]
t.is_eq(buckets, [("0.001", 1.0), ("0.01", 2.0), ("0.1", 2.0),
                  ("+Inf", 3.0)], "its buckets are cumulative")
t.is_eq(sample("psctl_update_apply_duration_seconds",
               "psctl_update_apply_duration_seconds_count"), 3.0,
        "three updates timed")
t.ok(abs(sample("psctl_update_apply_duration_seconds",
                "psctl_update_apply_duration_seconds_sum") - 0.5025) < 1e-12,
     "their sum is 0.5025 s")
t.is_eq(sample("psctl_checkpoint_duration_seconds",
               "psctl_checkpoint_duration_seconds_bucket", le="0.05"), 1.0,
        "the 0.02 s checkpoint falls in le=0.05")
t.is_eq(sample("psctl_workers_connected", "psctl_workers_connected"), 3.0,
        "three workers connected")
sys.exit(t.exit_status())
