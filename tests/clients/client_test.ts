// One integrator's round through the TypeScript client @hey-api/openapi-ts generated from
// /openapi.json, calling nothing but the generated client: a token, an application and a
// webhook (to a receiver this script runs on loopback), both listed, a change published, and
// its delivery read back from the request log. `tsc --strict --noEmit` checks it against the
// generated types before it runs.
//
// Reads CX_BASE, CX_TENANT, CX_CLIENT_ID and CX_CLIENT_SECRET (tests/clients/run.sh sets them).

import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { client } from './client/client.gen.js';
import {
  createApplication,
  createWebhook,
  getEvent,
  listApplications,
  listEvents,
  listWebhooks,
  publishChanges,
  token,
} from './client/sdk.gen.js';
import type {
  ApplicationOut,
  Projection,
  WebhookEvent,
  WebhookEventDetail,
  WebhookOut,
} from './client/types.gen.js';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run tests/clients/run.sh`);
  return value;
}

function check(ok: boolean, what: string, detail?: unknown): void {
  if (!ok) throw new Error(`[typescript] ${what}: ${JSON.stringify(detail)}`);
}

// A list or read answers the whole objects unless `?fields=` asks for some: the document's
// answer is the union of both, which these guards narrow.
const isApplication = (a: ApplicationOut | Projection): a is ApplicationOut => 'signatureVerification' in a;
const isWebhook = (h: WebhookOut | Projection): h is WebhookOut => 'filters' in h;

const received: { headers: IncomingHttpHeaders; body: { id: string } }[] = [];
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    received.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) });
    res.writeHead(200).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;

client.setConfig({ baseUrl: env('CX_BASE'), throwOnError: true });

// The token, through the realm's documented token endpoint (client_secret_post).
const { data: answer } = await token({
  path: { tenant: env('CX_TENANT') },
  body: {
    grant_type: 'client_credentials',
    client_id: env('CX_CLIENT_ID'),
    client_secret: env('CX_CLIENT_SECRET'),
  },
  throwOnError: true,
});
client.setConfig({ auth: () => answer.access_token });

const { data: app } = await createApplication({
  body: { name: 'Generated TypeScript client' },
  throwOnError: true,
});
const appId: string = app._id;
const { data: hook } = await createWebhook({
  path: { appId },
  body: { url: receiverUrl, filters: [{ eventType: 'cremployee:updated' }] },
  throwOnError: true,
});

const { data: apps } = await listApplications({ throwOnError: true });
const appItems: (ApplicationOut | Projection)[] = apps.items;
const listed: ApplicationOut[] = appItems.filter(isApplication);
check(listed.length === appItems.length, 'every listed application is whole', appItems);
check(listed.some((a) => a._id === appId), 'the new application is listed', listed);
const { data: hooks } = await listWebhooks({ path: { appId }, throwOnError: true });
const hookItems: (WebhookOut | Projection)[] = hooks.items;
const hookList: WebhookOut[] = hookItems.filter(isWebhook);
check(hookItems.length === 1 && hookList.length === 1 && hookList[0]._id === hook._id, 'the webhook is listed', hookList);

const { data: accepted } = await publishChanges({
  body: [{ type: 'cremployee:updated', entityId: '4711', data: { employeeID: 4711, lastName: 'Jansen' } }],
  throwOnError: true,
});
check(accepted.accepted === 1, 'one change accepted', accepted);

const deadline = Date.now() + 30_000;
let event: WebhookEvent | undefined;
while (!event) {
  const { data: log } = await listEvents({ path: { appId }, throwOnError: true });
  event = log.items.find((e) => e.status === 'delivered');
  if (!event) {
    check(Date.now() < deadline, 'delivered within 30 s', log.items);
    await new Promise((r) => setTimeout(r, 200));
  }
}
check(event.webhookId === hook._id && event.changeId === accepted.ids[0], 'the delivery of this change', event);
const { data: detail } = await getEvent({ path: { appId, eventId: event._id }, throwOnError: true });
const full: WebhookEventDetail = detail;
check(full.attempts[0]?.statusCode === 200, 'the attempt was answered 200', full.attempts);
check(received.length > 0 && received[0].body.id === event._id, 'the receiver got it', received);
check(typeof received[0].headers['cx-signature'] === 'string', 'it is signed', received[0].headers);
receiver.close();
console.log(`[typescript] OK: ${event.type} delivered as ${event._id}, read back from the request log`);
