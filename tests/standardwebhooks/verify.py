"""Verifies deliveries with the official Standard Webhooks package (PyPI `standardwebhooks`),
at this machine's time, as a receiver would.

Reads JSON from stdin: {"secret": "whsec_…", "messages": [{"headers": {name: value},
"body": "<base64 of the body bytes>"}]}. Prints one JSON list: per message "ok", or the
verifier's error message.
"""

import base64
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

request = json.load(sys.stdin)
hook = Webhook(request["secret"])
results = []
for message in request["messages"]:
    try:
        hook.verify(base64.b64decode(message["body"]), message["headers"])
        results.append("ok")
    except WebhookVerificationError as e:
        results.append(str(e))
print(json.dumps(results))
