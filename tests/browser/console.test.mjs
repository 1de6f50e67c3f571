// The console, tested in a real browser: Debian's Chromium driven by playwright-core.
//
// Starts `cxhooks serve` on a fresh SQLite store with a receiver in this process, then, as an
// operator would: signs in, creates a client, creates an application and a webhook (first with
// an invalid condition, then a valid one), publishes a change, backtests the filter as it is
// typed, finds it in the request log,
// checks its signature with the seed's own verifiers, filters the log, redelivers it, rotates
// the client's secret and disables and enables the webhook.
// Screenshots (and one of the page at a failure) go to ci-artifacts/browser/, emptied at the
// start of each run. Exit status 0 only if every step passed.
//
//   node tests/browser/console.test.mjs          (after `cargo build --bin cxhooks`)
//   CXHOOKS_BIN=… CHROMIUM=… to use other binaries.

import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const target = process.env.CARGO_TARGET_DIR || join(repo, "target");
const bin = process.env.CXHOOKS_BIN || join(target, "debug", "cxhooks");
const artifacts = process.env.CXHOOKS_ARTIFACTS || join(repo, "ci-artifacts", "browser");
rmSync(artifacts, { recursive: true, force: true });
mkdirSync(artifacts, { recursive: true });
const data = mkdtempSync(join(tmpdir(), "cxhooks-browser-"));
const password = "correct horse battery staple";

const children = [];
let browser;
let current; // the page in use, for a screenshot if a step fails
async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  for (const c of children) c.kill("SIGKILL");
  rmSync(data, { recursive: true, force: true });
}

function cli(...args) {
  return execFileSync(bin, ["--data-dir", data, ...args], { encoding: "utf8", input: password });
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function until(what, check, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let step = 0;
async function shot(page, name) {
  step += 1;
  const file = join(artifacts, `${String(step).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot ${file}`);
}

async function main() {
  // The receiver: records every delivery, answers 200.
  const received = [];
  let receiverDown = false; // answers 503 while set
  const receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ body: Buffer.concat(chunks), signature: req.headers["cx-signature"] });
      if (receiverDown) return res.writeHead(503, { "content-type": "text/plain" }).end("down");
      res.writeHead(200, { "content-type": "text/plain" }).end("thanks from the browser test");
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  const hookUrl = `http://127.0.0.1:${receiver.address().port}/hooks`;

  // The service, with the publishing client the source system would use.
  cli("tenant", "create", "acme");
  cli("operator", "create", "--tenant", "acme", "--email", "ops@acme.example", "--password-stdin");
  const publisher = JSON.parse(cli("client", "create", "--tenant", "acme", "--name", "Source",
    "--code", "urn:carerix/source", "--scopes", "urn:cx/webhooks:events:publish", "--json"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const serve = spawn(bin, ["--data-dir", data, "serve"], {
    env: { ...process.env, CXHOOKS_SERVER__LISTEN: `127.0.0.1:${port}`,
      CXHOOKS_DELIVERY__ALLOW_PRIVATE_TARGETS: "true", CXHOOKS_DELIVERY__RETRY_SCHEDULE: "1s,2s" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  children.push(serve);
  await until("the server", async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok);

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  current = page;
  page.on("dialog", (d) => d.accept());
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // Error pages (a refused sign-in is a 401, an invalid form a 400) are expected; script errors
  // are not.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text());
  });
  page.on("response", (r) => { if (r.status() === 404) errors.push(`404 for ${r.url()}`); });

  console.log("sign in");
  await page.goto(`${base}/console`);
  assert.match(page.url(), /\/console\/login\?next=/, "an anonymous visitor is sent to sign in");
  await page.fill("input[name=tenant]", "acme");
  await page.fill("input[name=email]", "ops@acme.example");
  await page.fill("input[name=password]", "wrong password!");
  await page.click("button[type=submit]");
  await page.getByText("Tenant, e-mail or password is wrong.").waitFor();
  await shot(page, "sign-in-refused");
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/console\/requests/);
  await page.getByText("ops@acme.example").waitFor();

  console.log("create a confidential client");
  await page.click("text=Clients");
  await page.click("text=New confidential client");
  await page.fill("input[name=name]", "HireData");
  await page.fill("input[name=code]", "not a code");
  await page.click("button:has-text('Create client')");
  await page.getByText("a client code has the form urn:{vendor}/{application}").waitFor();
  await page.fill("input[name=code]", "urn:hiredata/hiredata");
  await page.check("input[value='urn:cx/cx5Acl:data:manage']");
  await page.selectOption("select[name=update]", "all");
  await page.click("button:has-text('Create client')");
  await page.getByRole("heading", { name: "Client created" }).waitFor();
  const clientId = (await page.textContent("#client-id")).trim();
  const secret = (await page.textContent("#client-secret")).trim();
  assert.equal(secret.length, 43, "a 256-bit secret, base64url");
  await page.click("button[data-copy=client-secret]");
  await page.getByText("Copied").waitFor();
  await shot(page, "client-secret-shown-once");
  const token = await fetch(`${base}/auth/realms/acme/protocol/openid-connect/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded",
      authorization: "Basic " + Buffer.from(`${clientId}:${secret}`).toString("base64") },
    body: "grant_type=client_credentials",
  });
  assert.equal(token.status, 200, "the secret shown in the console gets a token");
  const granted = (await token.json()).scope.split(" ");
  assert.ok(granted.includes("urn:cx/webhooks:data:manage") && granted.includes("urn:cx/cx5Acl:data:manage"));
  await page.goto(`${base}/console/clients`);
  await page.getByText("create=on, read=all, update=all, delete=owner").waitFor();
  assert.equal(await page.locator(`text=${secret}`).count(), 0, "the secret is not shown again");

  console.log("edit the client: name, a missing scope, a permission (seed 000's fix for a 403)");
  await page.locator("tr", { hasText: "HireData" }).locator("text=Edit").click();
  await page.getByRole("heading", { name: "Edit client" }).waitFor();
  assert.equal(await page.inputValue("input[name=name]"), "HireData", "the form holds the client as it is");
  assert.ok(await page.isChecked("input[value='urn:cx/cx5Acl:data:manage']"));
  await page.fill("input[name=name]", "");
  await page.click("button:has-text('Save client')");
  await page.getByText("a client name has 1 to 200 characters").waitFor();
  await page.fill("input[name=name]", "HireData NL");
  await page.check("input[value='urn:cx/cx5Wrapper:data:manage']");
  await page.selectOption("select[name=delete]", "all");
  await shot(page, "client-edit");
  await page.click("button:has-text('Save client')");
  await page.waitForURL(/\/console\/clients\?done=client-saved/);
  await page.getByText("Client saved.").waitFor();
  const edited = page.locator("tr", { hasText: "HireData NL" });
  assert.match(await edited.textContent(), /urn:cx\/cx5Wrapper:data:manage/);
  assert.match(await edited.textContent(), /delete=all/);
  await shot(page, "client-saved");
  const widened = await (await fetch(`${base}/auth/realms/acme/protocol/openid-connect/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded",
      authorization: "Basic " + Buffer.from(`${clientId}:${secret}`).toString("base64") },
    body: "grant_type=client_credentials",
  })).json();
  assert.ok(widened.scope.split(" ").includes("urn:cx/cx5Wrapper:data:manage"), "the added scope is granted");
  // An application the client creates through the API shows its creator by name.
  const viaApi = await fetch(`${base}/webhooks/v1/applications`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${widened.access_token}` },
    body: JSON.stringify({ name: "Made by HireData" }),
  });
  assert.equal(viaApi.status, 201);

  console.log("create an application");
  await page.click("nav >> text=Applications");
  await page.fill("input[name=name]", "Browser test app");
  await page.click("button:has-text('Create application')");
  await page.getByText("Application created.").waitFor();
  await page.getByRole("heading", { name: "Browser test app" }).waitFor();
  const madeBy = page.locator("article.card", { hasText: "Made by HireData" });
  assert.match(await madeBy.textContent(), /by HireData NL/, "the creator by name, not id");
  const pem = (await page.textContent("pre.pem")).trim();
  assert.match(pem, /^-----BEGIN PUBLIC KEY-----/);
  await shot(page, "application-with-public-secret");

  console.log("create a webhook: invalid condition, then a valid one");
  await page.click("nav >> text=Webhooks");
  await page.click("text=New webhook");
  await page.fill("input[name=url]", hookUrl);
  await page.fill("input[name=event_type]", "cremployee:updated");
  await page.fill("textarea[name=condition]", "data.tostatusnode eq");
  const conditionMsg = page.locator("p.field-msg[data-for='/filters/0/condition'] .err");
  await conditionMsg.waitFor();
  assert.match(await conditionMsg.textContent(), /column \d+/, "the live error says where");
  await page.getByText("✗ Not valid yet").waitFor();
  await shot(page, "webhook-condition-invalid-live");
  await page.click("button:has-text('Create webhook')");
  await page.locator("p.field-msg[data-for='/filters/0/condition'] .err").waitFor();
  assert.match(await page.textContent("#problems"), /^\s*1 problem: Filter 1, condition: /,
    "the banner gives the count and the first problem, not 'see errors'");
  assert.equal(await page.locator("select[name=app]").count(), 1);
  assert.ok(await page.locator("input[name=event_type]").count() >= 3, "several filter rows on create");
  await shot(page, "webhook-condition-invalid-submitted");
  // No browser bubble: the form is novalidate, and a bad url is said at the field.
  assert.equal(await page.getAttribute("form.webhook", "novalidate"), "");
  await page.fill("input[name=url]", "not a url");
  await page.click("button:has-text('Create webhook')");
  await page.locator("p.field-msg[data-for='/url'] .err").waitFor();
  assert.match(await page.textContent("#problems"), /2 problems; the first: Url: /);
  await page.fill("input[name=url]", hookUrl);
  // A wrong event type: the condition is still checked against the entity it names.
  await page.locator("input[name=event_type]").nth(1).fill("cremployee:updatd");
  await page.locator("textarea[name=condition]").nth(1).fill("data.nosuchfield eq 1");
  await page.locator("p.field-msg[data-for='/filters/1/eventType'] .err").waitFor();
  await page.locator("p.field-msg[data-for='/filters/1/condition'] .warn").waitFor();
  await shot(page, "webhook-wrong-event-type");
  await page.locator("input[name=event_type]").nth(1).fill("");
  await page.locator("textarea[name=condition]").nth(1).fill("");
  await page.fill("textarea[name=condition]", "data.tostatusnode eq '1234'");
  await page.getByText("✓ Valid").waitFor();
  assert.equal(await conditionMsg.count(), 0, "the error goes away once the condition is valid");
  await page.click("button:has-text('Create webhook')");
  await page.waitForURL(/\/console\/webhooks\?app=/);
  await page.getByText("Webhook created.").waitFor();
  await page.getByText(hookUrl).waitFor();
  await page.getByText("data.tostatusnode eq '1234'").waitFor();
  await shot(page, "webhook-created");

  console.log("publish a change");
  const pubToken = await (await fetch(`${base}/auth/realms/acme/protocol/openid-connect/token`, {
    method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `grant_type=client_credentials&client_id=${publisher.clientId}&client_secret=${publisher.clientSecret}`,
  })).json();
  const published = await fetch(`${base}/webhooks/v1/changes`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${pubToken.access_token}` },
    body: JSON.stringify([
      { type: "cremployee:updated", entityId: "7", data: { tostatusnode: "1234" }, metadata: { paths: ["tostatusnode"] } },
      { type: "cremployee:updated", entityId: "8", data: { tostatusnode: "99" }, metadata: { paths: ["tostatusnode"] } },
    ]),
  });
  assert.equal(published.status, 202);
  await until("the delivery", () => received.length >= 1);
  const first = received[0];
  const note = JSON.parse(first.body.toString("utf8"));
  assert.equal(note.data.entityId, "7", "only the change matching the condition is delivered");
  const dir = mkdtempSync(join(tmpdir(), "cxhooks-verify-"));
  writeFileSync(join(dir, "secret.pem"), pem + "\n");
  writeFileSync(join(dir, "sig"), first.signature);
  writeFileSync(join(dir, "body"), first.body);
  const lang = process.env.CXHOOKS_VERIFIERS || "node";
  execFileSync(join(repo, "tests", "verifiers", "run.sh"),
    [lang, join(dir, "secret.pem"), join(dir, "sig"), join(dir, "body")], { stdio: "inherit" });
  rmSync(dir, { recursive: true, force: true });

  console.log("backtest the webhook's filter as it is typed");
  await page.click("nav >> text=Webhooks");
  await Promise.all([page.waitForNavigation(),
    page.locator("tr", { hasText: hookUrl }).locator("a", { hasText: hookUrl }).click()]);
  const backtest = page.locator("#backtest");
  // On the edit page it runs at once: one of the two changes published had status 1234.
  await page.getByText("Would have matched 1 of the last 2 changes.").waitFor();
  await page.fill("textarea[name=condition]", "data.tostatusnode in ['1234', '99']");
  await page.getByText("Would have matched 2 of the last 2 changes.").waitFor();
  await page.fill("textarea[name=condition]", "data.tostatusnode eq");
  await until("the backtest cleared while the condition does not compile",
    async () => (await backtest.textContent()).trim() === "");
  await page.fill("textarea[name=condition]", "data.tostatusnode eq '99'");
  await page.getByText("Would have matched 1 of the last 2 changes.").waitFor();
  await shot(page, "webhook-backtest");

  console.log("see it in the request log");
  await page.click("nav >> text=Request log");
  const row = page.locator("table.log tbody tr", { hasText: "cremployee:updated" });
  await until("the delivered row", async () => {
    await page.reload();
    return (await row.count()) === 1 && /delivered/.test(await row.textContent());
  });
  assert.match(await page.getAttribute("figure.chart svg", "aria-label"), /1 successful attempts, 0 failed/);
  await page.selectOption("select[name=status]", "failed");
  await page.click("button:has-text('Filter')");
  await page.getByText("No deliveries match.").waitFor();
  await page.selectOption("select[name=status]", "delivered");
  await page.click("button:has-text('Filter')");
  await row.waitFor();
  await page.fill("input[name=type]", "crvacancy:updated");
  await page.click("button:has-text('Filter')");
  await page.getByText("No deliveries match.").waitFor();
  await page.fill("input[name=type]", "cremployee:updated");
  await page.selectOption("select[name=webhook]", { label: hookUrl });
  await page.click("button:has-text('Filter')");
  await row.waitFor();
  // The time filter (UTC): a window that ended an hour ago holds nothing, one around now the row.
  const utc = (ms) => new Date(ms).toISOString().slice(0, 16);
  await page.fill("input[name=since]", utc(Date.now() - 3 * 3600e3));
  await page.fill("input[name=until]", utc(Date.now() - 3600e3));
  await page.click("button:has-text('Filter')");
  await page.getByText("No deliveries match.").waitFor();
  await page.fill("input[name=until]", utc(Date.now() + 3600e3));
  await page.click("button:has-text('Filter')");
  await row.waitFor();
  const filtered = new URL(page.url()).searchParams;
  assert.equal(filtered.get("type"), "cremployee:updated");
  assert.equal(filtered.get("status"), "delivered");
  await shot(page, "request-log");

  console.log("search the log by entity, change and delivery id; copy an id; auto-refresh");
  await page.goto(`${base}/console/requests`);
  const cells = async () => (await row.textContent()).replace(/\s+/g, " ");
  assert.ok((await cells()).includes(note.id), "the full delivery id is shown");
  assert.ok((await cells()).includes(hookUrl), "the webhook's url is shown");
  await row.locator("button:has-text('Copy')").click();
  await row.locator("button:has-text('Copied')").waitFor();
  await page.fill("input[name=q]", "8");
  await page.click("button:has-text('Filter')");
  await page.getByText("No deliveries match.").waitFor(); // entity 8 did not match the condition
  await page.fill("input[name=q]", "7");
  await page.click("button:has-text('Filter')");
  await row.waitFor();
  assert.equal((await row.locator("code.entity").textContent()).trim(), "7");
  await shot(page, "request-log-search-entity");
  await page.fill("input[name=q]", note.id);
  await Promise.all([page.waitForNavigation(), page.click("button:has-text('Filter')")]);
  await page.getByRole("heading", { name: /Delivery/ }).waitFor();
  await page.goto(`${base}/console/requests`);
  await Promise.all([page.waitForNavigation(), page.check("input[name=refresh]")]);
  assert.equal(new URL(page.url()).searchParams.get("refresh"), "on");
  await page.waitForNavigation({ timeout: 15000 }); // it reloads itself
  await Promise.all([page.waitForNavigation(), page.uncheck("input[name=refresh]")]);
  assert.equal(new URL(page.url()).searchParams.get("refresh"), "off");

  console.log("open the delivery and redeliver it");
  await row.locator(`a[href$="/${note.id}"]`).click();
  await page.getByRole("heading", { name: /Delivery/ }).waitFor();
  const attempts = page.locator("table.attempts tbody tr");
  assert.equal(await attempts.count(), 1);
  assert.match(await attempts.first().textContent(), /200.*ms.*thanks from the browser test/s);
  await Promise.all([page.waitForNavigation(), page.click("button:has-text('Redeliver')")]);
  await until("the redelivery", () => received.length >= 2);
  assert.equal(JSON.parse(received[1].body.toString("utf8")).id, note.id, "a redelivery keeps the id");
  await until("the second attempt", async () => {
    // A reload racing the redirect of the form post can find the page detached: try again.
    try {
      await page.reload();
    } catch (e) {
      console.log(`reload failed (${e.message.split("\n")[0]}); retrying`);
      return false;
    }
    return (await attempts.count()) === 2;
  });
  await shot(page, "delivery-redelivered");

  console.log("rotate the client's secret");
  await page.goto(`${base}/console/clients`);
  await page.locator("tr", { hasText: "HireData NL" }).locator("button:has-text('Rotate secret')").click();
  await page.getByRole("heading", { name: "Secret rotated" }).waitFor();
  const rotated = (await page.textContent("#client-secret")).trim();
  assert.notEqual(rotated, secret, "a new secret");
  const tokenWith = (s) => fetch(`${base}/auth/realms/acme/protocol/openid-connect/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded",
      authorization: "Basic " + Buffer.from(`${clientId}:${s}`).toString("base64") },
    body: "grant_type=client_credentials",
  });
  assert.equal((await tokenWith(rotated)).status, 200, "the rotated secret gets a token");
  assert.equal((await tokenWith(secret)).status, 401, "the old secret stops working at once");
  await shot(page, "client-secret-rotated");

  console.log("disable and enable the webhook");
  await page.click("nav >> text=Webhooks");
  const hookRow = page.locator("tr", { hasText: hookUrl });
  await Promise.all([page.waitForNavigation(), hookRow.locator("button:has-text('Disable')").click()]);
  await hookRow.locator("button:has-text('Enable')").waitFor();
  assert.match(await hookRow.textContent(), /disabled/);
  await page.getByText("Webhook disabled: nothing is sent to it until it is enabled again.").waitFor();
  await shot(page, "webhook-disabled");
  await Promise.all([page.waitForNavigation(), hookRow.locator("button:has-text('Enable')").click()]);
  await hookRow.locator("button:has-text('Disable')").waitFor();
  assert.match(await hookRow.textContent(), /enabled/);
  await page.getByText("Webhook enabled.").waitFor();

  console.log("a receiver outage: health, then recover the failed delivery");
  receiverDown = true;
  const before = received.length;
  const outage = await fetch(`${base}/webhooks/v1/changes`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${pubToken.access_token}` },
    body: JSON.stringify([{ type: "cremployee:updated", entityId: "9", data: { tostatusnode: "1234" },
      metadata: { paths: ["tostatusnode"] } }]),
  });
  assert.equal(outage.status, 202);
  await page.goto(`${base}/console/requests?status=failed&q=9`);
  await until("the failed delivery", async () => {
    await page.reload();
    return (await row.count()) === 1;
  });
  receiverDown = false;
  await page.click("nav >> text=Webhooks");
  assert.match(await hookRow.locator("td.health").textContent(), /last:\s*503/);
  await shot(page, "webhooks-health");
  await hookRow.locator("a", { hasText: hookUrl }).click();
  await Promise.all([page.waitForNavigation(), page.click("text=Recover failed deliveries…")]);
  await Promise.all([page.waitForNavigation(), page.click("button:has-text('Recover')")]);
  await page.getByText("Recovery started").waitFor();
  await until("the recovered delivery", () => received.length > before + 3);
  await page.getByText("1 of 1 handled: 1 delivered again").waitFor({ timeout: 20000 });
  assert.equal(JSON.parse(received.at(-1).body.toString("utf8")).data.entityId, "9");
  await shot(page, "recovery-done");

  console.log("define an additional field");
  await page.click("nav >> text=Fields");
  await page.selectOption("select[name=entity]", "cremployee");
  await page.fill("input[name=key]", "shoesize");
  await page.fill("input[name=label]", "Shoe size");
  await page.selectOption("select[name=type]", "number");
  await Promise.all([page.waitForNavigation(), page.click("button:has-text('Define field')")]);
  await page.getByText("Additional field defined: conditions can test it now.").waitFor();
  assert.match(await page.locator("table tbody tr", { hasText: "shoesize" }).textContent(), /additionalinfo\.shoesize.*Shoe size.*number/s);
  await shot(page, "additional-field-defined");

  console.log("a pull webhook: no url, its notifications kept for its feed");
  await page.click("nav >> text=Webhooks");
  await page.click("text=New webhook");
  await page.fill("input[name=event_type]", "crjob:created");
  await page.click("button:has-text('Create webhook')");
  await page.waitForURL(/\/console\/webhooks\?app=/);
  await page.getByText("Webhook created.").waitFor();
  await Promise.all([page.waitForNavigation(),
    page.locator("a", { hasText: "pull webhook (feed)" }).click()]);
  assert.match(await page.textContent("code.feed"),
    /^GET \/webhooks\/v1\/applications\/[0-9a-f-]+\/webhooks\/[0-9a-f-]+\/feed$/);
  await shot(page, "pull-webhook");
  const job = await fetch(`${base}/webhooks/v1/changes`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${pubToken.access_token}` },
    body: JSON.stringify([{ type: "crjob:created", entityId: "70", data: {} }]),
  });
  assert.equal(job.status, 202);
  await page.goto(`${base}/console/requests?q=70`);
  const heldRow = page.locator("table.log tbody tr", { hasText: "crjob:created" });
  await until("the held delivery", async () => {
    await page.reload();
    return (await heldRow.count()) === 1;
  });
  assert.match(await heldRow.textContent(), /held.*pull webhook \(feed\)/s);

  console.log("readable on a phone");
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true,
    storageState: await context.storageState() });
  const small = await phone.newPage();
  for (const path of ["/console/requests", "/console/clients", "/console/webhooks/new"]) {
    await small.goto(`${base}${path}`);
    const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `${path} fits a phone's width (overflows by ${overflow}px)`);
  }
  await small.goto(`${base}/console/requests`);
  await shot(small, "phone-request-log");

  console.log("sign out");
  await page.click("button:has-text('Sign out')");
  await page.waitForURL(/\/console\/login/);
  await page.goto(`${base}/console/clients`);
  assert.match(page.url(), /\/console\/login/, "signed out means signed out");
  await phone.close();

  assert.deepEqual(errors, [], "no script errors in the pages");
  console.log("console browser test: all steps passed");
}

// Exit explicitly: the receiver and keep-alive connections would hold the event loop open.
main().then(async () => {
  await cleanup();
  process.exit(0);
}, async (e) => {
  console.error("console browser test FAILED:", e);
  if (current) {
    const file = join(artifacts, "failure.png");
    await current.screenshot({ path: file, fullPage: true }).then(
      () => console.error(`  screenshot of the page at the failure: ${file}`), () => {});
  }
  await cleanup();
  process.exit(1);
});
