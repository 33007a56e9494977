// Browser tests over HTTPS: chromium against ssechat with --tls-cert, the certificate made here
// by a test CA and trusted through chromium's --ignore-certificate-errors-spki-list flag (the
// server key's SPKI hash), so nothing outside the test is trusted or changed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { BINARY, FLAGS, makeTestCerts, startServer, stopServer, openAs, say, waitForText } from "./lib.mjs";

const dir = mkdtempSync(join(tmpdir(), "ssechat-https-"));
let server = null, base = "", browser = null, spkiHash = "";

before(async () => {
  assert.ok(BINARY, "SSECHAT_BINARY must name the server binary");
  const spki = makeTestCerts(dir);
  spkiHash = spki;
  server = await startServer(0, ["--data", join(dir, "data"), "--publish-rate", "0",
    "--tls-cert", join(dir, "server.pem"), "--tls-key", join(dir, "server.key")]);
  base = `https://127.0.0.1:${server.port}`;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium",
    args: [...FLAGS, `--ignore-certificate-errors-spki-list=${spki}`] });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await stopServer(server);
  rmSync(dir, { recursive: true, force: true });
});

// Runs fetch in a page of the server's origin (node's own fetch does not know the test CA).
async function inPage(page, path, init) {
  return page.evaluate(async ([p, i]) => {
    const r = await fetch(p, i);
    return { status: r.status, text: await r.text() };
  }, [path, init]);
}

test("ten tabs, each with its own EventSource, are live at once over one HTTP/2 connection", async () => {
  const context = await browser.newContext();
  const tabs = [];
  for (let i = 0; i < 10; i++) {
    const page = await context.newPage();
    await page.goto(`${base}/healthz`);
    // A test page: no SharedWorker, one EventSource per tab, as an app with a stream per tab.
    await page.evaluate((n) => {
      window.got = [];
      window.es = new EventSource(`/rooms/tabs/events?presence=0&id=tab${n}`);
      window.es.onmessage = (e) => window.got.push(JSON.parse(e.data).message);
    }, i);
    tabs.push(page);
  }
  for (const t of tabs) await t.waitForFunction(() => window.es.readyState === EventSource.OPEN, null, { timeout: 20000 });
  // Over HTTP/1.1 the seventh stream would wait for a free connection; here all ten are open.
  const r = await inPage(tabs[0], "/rooms/tabs/messages?id=poster", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ message: "to every tab" }) });
  assert.equal(r.status, 201, r.text);
  for (const t of tabs) await t.waitForFunction(() => window.got.includes("to every tab"), null, { timeout: 10000 });
  const proto = await tabs[9].evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
  assert.equal(proto, "h2");
  const m = (await inPage(tabs[0], "/metrics")).text;
  const conns = Number(m.match(/^ssechat_h2_connections_total (\d+)/m)[1]);
  const streams = Number(m.match(/^ssechat_h2_streams_total\{kind="events"\} (\d+)/m)[1]);
  assert.equal(streams, 10, m);
  assert.equal(conns, 1, "one connection for every tab of the browser");
  await context.close();
});

test("the chat page works over HTTPS", async () => {
  const a = await browser.newContext(), b = await browser.newContext();
  const alice = await openAs(a, base, "alice", "lobby");
  const bob = await openAs(b, base, "bob", "lobby");
  await say(alice, "hello over https");
  await waitForText(bob, "hello over https");
  await say(bob, "and back over h2");
  await waitForText(alice, "and back over h2");
  const proto = await alice.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
  assert.equal(proto, "h2");
  await a.close();
  await b.close();
});

test("over HTTPS with HTTP/1.1, the page's event streams are sealed by the server after a TLS 1.3 KeyUpdate", async () => {
  // A second chromium that does not speak HTTP/2: its event streams are HTTPS HTTP/1.1, which
  // leave OpenSSL after their handshake. Chromium's TLS (BoringSSL) must take the KeyUpdate
  // and every record sealed after it.
  const h1 = await chromium.launch({ executablePath: "/usr/bin/chromium",
    args: [...FLAGS, "--disable-http2", `--ignore-certificate-errors-spki-list=${spkiHash}`] });
  try {
    const a = await h1.newContext(), b = await h1.newContext();
    const alice = await openAs(a, base, "alice", "sealed");
    const bob = await openAs(b, base, "bob", "sealed");
    await say(alice, "hello over sealed records");
    await waitForText(bob, "hello over sealed records");
    const long = "x".repeat(3000) + " and a long one back";
    await say(bob, long);
    await waitForText(alice, long);
    const proto = await alice.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
    assert.equal(proto, "http/1.1");
    const m = (await inPage(alice, "/metrics")).text;
    const sealed = Number(m.match(/^ssechat_tls_event_streams_total\{writer="ssechat"\} (\d+)/m)[1]);
    assert.ok(sealed >= 2, m);
    await a.close();
    await b.close();
  } finally {
    await h1.close();
  }
});
