"""Summarise a schemathesis NDJSON report: requests, status codes, failed checks, and every
server error (5xx) with the request that caused it.

    python3 summary.py EVENTS_NDJSON…

Exit status 0 when no response was a 5xx, 1 when one was, 2 when no report could be read.
Only the standard library is used.
"""

import base64
import collections
import json
import sys


def decode(content):
    if not content:
        return ""
    if "$base64" in content:
        raw = base64.b64decode(content["$base64"])
    else:
        raw = content.get("string", "").encode()
    text = raw.decode("utf-8", errors="replace")
    return text if len(text) <= 600 else text[:600] + "…"


def main(paths):
    statuses = collections.Counter()
    operations = set()
    failures = collections.Counter()  # (code, title, operation) -> count
    server_errors = []
    lines = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines += f.read().splitlines()
        except OSError as e:
            print(f"[schemathesis] no report {path}: {e.strerror}")
    if not lines:
        return 2
    for line in lines:
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        operations.add(recorder["label"])
        for case_id, checks in (recorder.get("checks") or {}).items():
            for check in checks:
                info = (check.get("failure_info") or {}).get("failure")
                if check.get("status") == "failure" and info:
                    failures[(info.get("code", "?"), info.get("title", check["name"]), info.get("operation", recorder["label"]))] += 1
        for case_id, interaction in (recorder.get("interactions") or {}).items():
            response = interaction.get("response")
            request = interaction["request"]
            if response is None:
                statuses["no response"] += 1
                continue
            code = response["status_code"]
            statuses[code] += 1
            if code >= 500:
                server_errors.append(
                    {
                        "operation": recorder["label"],
                        "request": f'{request["method"]} {request["uri"]}',
                        "content-type": (request.get("headers", {}).get("Content-Type") or [""])[0],
                        "body": decode(request.get("body")),
                        "status": code,
                        "response": decode(response.get("content")),
                        "request id": (response.get("headers", {}).get("x-request-id") or [""])[0],
                    }
                )
    total = sum(statuses.values())
    print(f"[schemathesis] operations tested: {len(operations)}; requests: {total}")
    print("[schemathesis] status codes: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))))
    if failures:
        print("[schemathesis] failed checks (cases per operation):")
        for (code, title, op), n in sorted(failures.items()):
            print(f"    {code} {title}: {op} ({n})")
    if server_errors:
        print(f"[schemathesis] SERVER ERRORS: {len(server_errors)} responses with status 5xx")
        seen = set()
        for e in server_errors:
            key = (e["operation"], e["status"], e["response"][:200])
            if key in seen:
                continue
            seen.add(key)
            print(f'  - {e["operation"]}: {e["status"]}')
            print(f'      request:  {e["request"]}')
            if e["body"]:
                print(f'      body ({e["content-type"]}): {e["body"]}')
            print(f'      response: {e["response"]}')
            print(f'      x-request-id: {e["request id"]} (grep the server log for it)')
        return 1
    print("[schemathesis] server errors (5xx): none")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
