// Four independent TLS stacks hold a sealed TLS 1.3 event stream for a minute of events
// (HOLD_SECONDS): OpenSSL's s_client, which also rotates its keys mid-way with `k` (a KeyUpdate
// asking nothing) and `K` (one asking for the server's); GnuTLS's gnutls-cli, which rotates
// with its ^rekey1^ and ^rekey^ commands; Node's tls (OpenSSL inside Node); and Chromium
// (BoringSSL) over HTTP/1.1. Every client must get every event, and the server must have
// sealed each stream itself.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { connect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { BINARY, FLAGS, makeTestCerts, startServer, stopServer } from "./lib.mjs";

const HOLD = Number(process.env.HOLD_SECONDS || 60);
const dir = mkdtempSync(join(tmpdir(), "ssechat-tlsclients-"));
let server = null, port = 0, spki = "", ca = null;
const children = [];

before(async () => {
  assert.ok(BINARY, "SSECHAT_BINARY must name the server binary");
  spki = makeTestCerts(dir);
  ca = readFileSync(join(dir, "ca.pem"));
  server = await startServer(0, ["--store", "memory", "--publish-rate", "0",
    "--tls-cert", join(dir, "server.pem"), "--tls-key", join(dir, "server.key")]);
  port = server.port;
});

after(async () => {
  for (const c of children) c.kill("SIGKILL");
  if (server) await stopServer(server);
  rmSync(dir, { recursive: true, force: true });
});

// One request over HTTPS with the test CA: { status, body }.
function https(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, ca,
      headers: body ? { "Content-Type": "application/json" } : {} }, (res) => {
      let text = "";
      res.on("data", (d) => { text += d; });
      res.on("end", () => resolve({ status: res.statusCode, body: text }));
    });
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

// A command-line TLS client whose stdin we type into; its stdout is collected.
function cli(cmd, args) {
  const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
  children.push(child);
  const c = { child, out: "", err: "" };
  child.stdout.on("data", (d) => { c.out += d; });
  child.stderr.on("data", (d) => { c.err += d; });
  return c;
}

const ticks = (text) => new Set([...text.matchAll(/tick (\d+)/g)].map((m) => Number(m[1])));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const streamRequest = (who) =>
  `GET /rooms/hold/events?presence=0&id=${who} HTTP/1.1\nHost: 127.0.0.1\n\n`;

test(`OpenSSL, GnuTLS, Node and Chromium hold sealed streams for ${HOLD} s, rotating keys`, { timeout: (HOLD + 90) * 1000 }, async () => {
  const ossl = cli("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-CAfile", join(dir, "ca.pem"),
    "-tls1_3", "-crlf", "-verify_return_error"]);
  ossl.child.stdin.write(streamRequest("openssl"));
  const gnutls = cli("gnutls-cli", ["--x509cafile", join(dir, "ca.pem"), "--port", String(port),
    "--inline-commands", "127.0.0.1"]);
  gnutls.child.stdin.write(streamRequest("gnutls").replaceAll("\n", "\r\n"));
  const node = { out: "" };
  const sock = connect({ host: "127.0.0.1", port, ca, servername: "localhost", minVersion: "TLSv1.3" }, () => {
    sock.write(streamRequest("node").replaceAll("\n", "\r\n"));
  });
  sock.on("data", (d) => { node.out += d; });
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium",
    args: [...FLAGS, "--disable-http2", `--ignore-certificate-errors-spki-list=${spki}`] });
  try {
    const page = await browser.newPage();
    await page.goto(`https://127.0.0.1:${port}/healthz`);
    await page.evaluate(() => {
      window.got = [];
      window.es = new EventSource("/rooms/hold/events?presence=0&id=chromium");
      window.es.onmessage = (e) => window.got.push(JSON.parse(e.data).message);
    });
    await page.waitForFunction(() => window.es.readyState === EventSource.OPEN, null, { timeout: 20000 });
    const all = [ossl, gnutls, node];
    const opened = Date.now();
    while (!all.every((c) => c.out.includes("retry:")) && Date.now() - opened < 20000) await sleep(100);
    for (const c of all) assert.ok(c.out.includes("retry:"), `no stream: ${c.out} ${c.err || ""}`);

    // An event every half second; key updates a quarter and half way through.
    const total = HOLD * 2;
    for (let i = 1; i <= total; i++) {
      const r = await https("POST", "/rooms/hold/messages?id=ticker", JSON.stringify({ message: `tick ${i}` }));
      assert.equal(r.status, 201, r.body);
      if (i === Math.floor(total / 4)) {
        ossl.child.stdin.write("k\n");
        gnutls.child.stdin.write("^rekey1^\n");
      }
      if (i === Math.floor(total / 2)) {
        ossl.child.stdin.write("K\n");
        gnutls.child.stdin.write("^rekey^\n");
      }
      await sleep(500);
    }
    const want = (c) => ticks(c.out).size === total;
    const waited = Date.now();
    while (!all.every(want) && Date.now() - waited < 10000) await sleep(100);
    await page.waitForFunction((n) => window.got.length >= n, total, { timeout: 10000 });
    for (const [name, c] of [["openssl", ossl], ["gnutls", gnutls], ["node", node]])
      assert.equal(ticks(c.out).size, total, `${name} missed events:\n${c.out.slice(-2000)}\n${c.err || ""}`);
    assert.equal((await page.evaluate(() => window.got.length)), total);
    assert.match(ossl.err, /KEYUPDATE[\s\S]*KEYUPDATE/, "s_client sent both key updates");
    const m = (await https("GET", "/metrics")).body;
    const sealed = Number(m.match(/^ssechat_tls_event_streams_total\{writer="ssechat"\} (\d+)/m)[1]);
    assert.ok(sealed >= 4, `every stream sealed by the server:\n${m}`);
    assert.equal(Number(m.match(/^ssechat_slow_disconnects_total (\d+)/m)[1]), 0);
  } finally {
    sock.destroy();
    await browser.close();
  }
});
