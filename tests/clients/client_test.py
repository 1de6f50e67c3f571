"""One integrator's round through the Python client openapi-python-client generated from
/openapi.json, calling nothing but the generated client: a token, an application and a webhook
(to a receiver this script runs on loopback), both listed, a change published, and its delivery
read back from the request log. Every `parsed` answer must be the generated model type.

Reads CX_BASE, CX_TENANT, CX_CLIENT_ID and CX_CLIENT_SECRET (tests/clients/run.sh sets them).
"""

import http.server
import json
import os
import sys
import threading
import time

from cxhooks_client import AuthenticatedClient, Client
from cxhooks_client.api.applications import create_application, list_applications
from cxhooks_client.api.changes import publish_changes
from cxhooks_client.api.events import get_event, list_events
from cxhooks_client.api.identity import token
from cxhooks_client.api.webhooks import create_webhook, list_webhooks
from cxhooks_client.models import (
    Accepted,
    ApplicationIn,
    ApplicationList,
    ApplicationOut,
    ChangeIn,
    ChangeInData,
    EventStatus,
    FilterDoc,
    TokenAnswer,
    TokenForm,
    WebhookEvent,
    WebhookEventDetail,
    WebhookEventList,
    WebhookIn,
    WebhookList,
    WebhookOut,
)

BASE = os.environ["CX_BASE"]
TENANT = os.environ["CX_TENANT"]


def parsed(response, model):
    """The answer's parsed body, which must be a `model`."""
    body = response.parsed
    if not isinstance(body, model):
        sys.exit(
            f"[python] expected a {model.__name__}, got {type(body).__name__} "
            f"(HTTP {response.status_code}): {response.content[:500]!r}"
        )
    return body


received = []


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        received.append((self.headers, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()
receiver_url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks"

# The token, through the realm's documented token endpoint (client_secret_post).
form = TokenForm(
    grant_type="client_credentials",
    client_id=os.environ["CX_CLIENT_ID"],
    client_secret=os.environ["CX_CLIENT_SECRET"],
)
answer = parsed(token.sync_detailed(TENANT, client=Client(base_url=BASE), body=form), TokenAnswer)
api = AuthenticatedClient(base_url=BASE, token=answer.access_token)

app = parsed(
    create_application.sync_detailed(client=api, body=ApplicationIn(name="Generated Python client")),
    ApplicationOut,
)
hook = parsed(
    create_webhook.sync_detailed(
        str(app.field_id),
        client=api,
        body=WebhookIn(url=receiver_url, filters=[FilterDoc(event_type="cremployee:updated")]),
    ),
    WebhookOut,
)

apps = parsed(list_applications.sync_detailed(client=api), ApplicationList)
assert all(isinstance(a, ApplicationOut) for a in apps.items), apps.items
assert app.field_id in [a.field_id for a in apps.items], "the new application is listed"
hooks = parsed(list_webhooks.sync_detailed(str(app.field_id), client=api), WebhookList)
assert [h.field_id for h in hooks.items] == [hook.field_id], hooks.items
assert all(isinstance(h, WebhookOut) for h in hooks.items)

change = ChangeIn(
    type_="cremployee:updated",
    entity_id="4711",
    data=ChangeInData.from_dict({"employeeID": 4711, "lastName": "Jansen"}),
)
accepted = parsed(publish_changes.sync_detailed(client=api, body=[change]), Accepted)
assert accepted.accepted == 1, accepted

deadline = time.monotonic() + 30
while True:
    log = parsed(list_events.sync_detailed(str(app.field_id), client=api), WebhookEventList)
    assert all(isinstance(e, WebhookEvent) for e in log.items), log.items
    done = [e for e in log.items if e.status == EventStatus.DELIVERED]
    if done:
        break
    if time.monotonic() > deadline:
        sys.exit(f"[python] not delivered in 30 s: {[e.to_dict() for e in log.items]}")
    time.sleep(0.2)

event = done[0]
assert event.webhook_id == hook.field_id and str(event.change_id) == str(accepted.ids[0]), event
detail = parsed(get_event.sync_detailed(str(app.field_id), str(event.field_id), client=api), WebhookEventDetail)
assert detail.attempts and detail.attempts[0].status_code == 200, detail.attempts
assert detail.payload.to_dict()["data"]["entityId"] == "4711", detail.payload
assert received, "the receiver got the notification"
headers, payload = received[0]
assert payload["id"] == str(event.field_id), (payload, event)
assert headers.get("Cx-Signature"), headers
print(f"[python] OK: {event.type_} delivered as {event.field_id}, read back from the request log")
