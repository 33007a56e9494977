// What the browser tests share: chromium's flags, starting the real binary, and page helpers.
import assert from "node:assert/strict";
import { execFileSync, execSync, spawn } from "node:child_process";
import { createServer as createNetServer } from "node:net";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export const BINARY = process.env.SSECHAT_BINARY;
export const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"];

// Starts ssechat with args (plus --port p) and resolves with { child, port } at its banner.
export function startServer(p, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(BINARY, ["--port", String(p), ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    const timer = setTimeout(() => reject(new Error("no banner: " + out)), 30000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening at https?:\/\/localhost:(\d+)/);
      if (m) { clearTimeout(timer); resolve({ child, port: Number(m[1]) }); }
    });
    child.on("exit", (code) => reject(new Error("server exited " + code)));
  });
}
export function stopServer(server) {
  return new Promise((resolve) => {
    server.child.removeAllListeners("exit");
    server.child.on("exit", resolve);
    server.child.kill("SIGTERM");
  });
}
// Runs the binary to completion (for `ssechat token`); resolves with its stdout.
export function runBinary(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(BINARY, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.on("exit", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error("exit " + code))));
  });
}
export function failOnPageErrors(page, who) {
  page.on("pageerror", (e) => { throw new Error(`page error in ${who}: ${e.message}`); });
}
// Opens the page as `name` (known to the page already, so it asks for none).
export async function openAs(context, base, name, hash, viewport) {
  await context.addInitScript((n) => localStorage.setItem("ssechat.name", n), name);
  const page = await context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  failOnPageErrors(page, name);
  await page.goto(`${base}/#${hash}`);
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 20000 });
  return page;
}
export async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}
export const texts = (page) =>
  page.$$eval("#messages li.msg:not(.pending) .text", (els) => els.map((e) => e.textContent));
export async function waitForText(page, text, timeout = 10000) {
  await page.waitForFunction((t) => [...document.querySelectorAll("#messages li.msg .text")]
    .some((e) => e.textContent === t), text, { timeout });
}
export async function publish(base, room, user, message) {
  const r = await fetch(`${base}/rooms/${room}/messages?id=${encodeURIComponent(user)}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ message }),
  });
  const body = await r.text();
  assert.equal(r.status, 201, body);
  return JSON.parse(body);
}

// A test CA and a server certificate for 127.0.0.1 signed by it, made in `dir` by the openssl
// command (ca.pem, server.pem, server.key); answers the server key's SPKI hash, which
// chromium's --ignore-certificate-errors-spki-list trusts, so nothing outside the test is.
export function makeTestCerts(dir) {
  const sh = (cmd) => execSync(cmd, { cwd: dir, stdio: ["ignore", "pipe", "ignore"] }).toString();
  sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=ssechat test CA'");
  sh("openssl req -newkey rsa:2048 -nodes -keyout server.key -out s.csr -subj '/CN=127.0.0.1'");
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  sh("openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf");
  return sh("openssl x509 -in server.pem -pubkey -noout | openssl pkey -pubin -outform der | " +
    "openssl dgst -sha256 -binary | base64").trim();
}

// A free loopback port (closed again at once: the caller binds it).
export function freePort() {
  return new Promise((resolve) => {
    const x = createNetServer();
    x.listen(0, "127.0.0.1", () => { const p = x.address().port; x.close(() => resolve(p)); });
  });
}
// A redis-server of the test's own on loopback, without persistence, answering PING when this
// resolves with { port, child }; the caller kills it.
export async function startRedis(dir, extra = []) {
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir,
    "--save", "", "--dbfilename", `redis-${port}.rdb`, ...extra], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync("redis-cli", ["-p", String(port), "ping"], { stdio: "ignore" });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { port, child };
}
