"""Parses a live node's /metrics with the Prometheus project's own parsers.

    check.py BASE_URL TOKEN

First it makes the node count something in every family: an application and a webhook aimed at
a receiver this script runs on loopback, and one change published to it, delivered.

The classic text format (served by default and to `Accept: text/plain; version=0.0.4`) must
parse with `prometheus_client.parser`, keeping every counter a counter; OpenMetrics (served to
`Accept: application/openmetrics-text`) must parse with the strict
`prometheus_client.openmetrics.parser`. Exits 1 with what is wrong.
"""
import http.server
import json
import sys
import threading
import time
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_classic

base, token = sys.argv[1], sys.argv[2]


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


receiver = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()


def call(path, body):
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(), method="POST")
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request) as r:
        return json.loads(r.read() or b"null")


app = call("/webhooks/v1/applications", {"name": "prometheus check"})
call(f"/webhooks/v1/applications/{app['_id']}/webhooks", {
    "url": f"http://127.0.0.1:{receiver.server_port}/hook",
    "filters": [{"eventType": "cremployee:updated"}],
})
call("/webhooks/v1/changes", [{
    "type": "cremployee:updated", "entityId": "1", "data": {"touser": {"lastname": "Jansen"}},
    "metadata": {"paths": ["touser.lastname"]},
}])

EXPECTED = {
    "cxhooks_changes_accepted": "counter",
    "cxhooks_deliveries": "counter",
    "cxhooks_tenant_deliveries": "counter",
    "cxhooks_webhook_deliveries": "counter",
    "cxhooks_attempt_duration_seconds": "histogram",
    "cxhooks_queue_depth": "gauge",
    "cxhooks_oldest_pending_age_seconds": "gauge",
}


def scrape(accept):
    request = urllib.request.Request(f"{base}/metrics")
    if accept:
        request.add_header("Accept", accept)
    with urllib.request.urlopen(request) as r:
        return r.headers["Content-Type"], r.read().decode()


failures = []
deadline = time.monotonic() + 30
while 'cxhooks_deliveries_total{outcome="delivered"}' not in scrape(None)[1]:
    if time.monotonic() > deadline:
        sys.exit("[prometheus] FAILED: the change was not delivered within 30 s")
    time.sleep(0.2)
for accept in (None, "text/plain; version=0.0.4", "application/openmetrics-text; version=1.0.0"):
    content_type, text = scrape(accept)
    openmetrics = content_type.startswith("application/openmetrics-text")
    if openmetrics != (accept is not None and "openmetrics" in accept):
        failures.append(f"Accept {accept!r} was answered {content_type!r}")
        continue
    parse = parse_openmetrics if openmetrics else parse_classic
    try:
        families = {f.name: f for f in parse(text)}
    except Exception as e:  # the parsers raise ValueError and others
        failures.append(f"{content_type}: does not parse: {e}")
        continue
    for name, kind in EXPECTED.items():
        family = families.get(name)
        if family is None:
            failures.append(f"{content_type}: no family {name} (have {sorted(families)})")
        elif family.type != kind:
            failures.append(f"{content_type}: {name} is {family.type}, not {kind}")
        elif kind == "counter":
            bad = [s.name for s in family.samples if not s.name.endswith(("_total", "_created"))]
            if bad:
                failures.append(f"{content_type}: counter samples not ending in _total: {bad}")
    counted = families.get("cxhooks_changes_accepted")
    if counted is not None and not any(s.value >= 1 for s in counted.samples):
        failures.append(f"{content_type}: cxhooks_changes_accepted_total did not count the publish")
    print(f"[prometheus] {content_type}: {len(families)} families parsed")

if failures:
    print("[prometheus] FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("[prometheus] OK: both formats parse, counters keep their type")
