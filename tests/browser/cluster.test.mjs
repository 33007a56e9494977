// The chat page on a two-node cluster: one user on each node, one redis-server between them.
// Run by CTest with SSECHAT_BINARY set; redis-server comes from Debian.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BINARY = process.env.SSECHAT_BINARY;
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"];
const dir = mkdtempSync(join(tmpdir(), "ssechat-cluster-browser-"));
const children = [];
let browser = null;

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}
function startNode(redisPort) {
  return new Promise((resolve, reject) => {
    const child = spawn(BINARY, ["--port", "0", "--store", "redis", "--redis",
      `redis://127.0.0.1:${redisPort}`, "--publish-rate", "0", "--retry", "300"],
      { stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    let out = "";
    const timer = setTimeout(() => reject(new Error("no banner: " + out)), 30000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening at http:\/\/localhost:(\d+)/);
      if (m) { clearTimeout(timer); resolve(`http://127.0.0.1:${m[1]}`); }
    });
  });
}
async function openAs(context, base, name, room) {
  await context.addInitScript((n) => localStorage.setItem("ssechat.name", n), name);
  const page = await context.newPage();
  page.on("pageerror", (e) => { throw new Error(`page error in ${name}: ${e.message}`); });
  await page.goto(`${base}/#${room}`);
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 20000 });
  return page;
}
async function waitForText(page, text) {
  await page.waitForFunction((t) => [...document.querySelectorAll("#messages li.msg .text")]
    .some((e) => e.textContent === t), text, { timeout: 10000 });
}

let nodeA = "", nodeB = "";
before(async () => {
  assert.ok(BINARY, "SSECHAT_BINARY must name the server binary");
  const redisPort = await freePort();
  children.push(spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1",
    "--dir", dir, "--save", "", "--appendonly", "yes"], { stdio: "ignore" }));
  // A node waits for Redis by itself (it retries with backoff), so no polling is needed here.
  [nodeA, nodeB] = await Promise.all([startNode(redisPort), startNode(redisPort)]);
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
});

after(async () => {
  if (browser) await browser.close();
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

test("users on two nodes chat and see each other online", async () => {
  const alice = await openAs(await browser.newContext(), nodeA, "alice", "hall");
  const bob = await openAs(await browser.newContext(), nodeB, "bob", "hall");
  await alice.fill("#text", "hello from node A");
  await alice.press("#text", "Enter");
  await waitForText(bob, "hello from node A");
  await bob.fill("#text", "and back from node B");
  await bob.press("#text", "Enter");
  await waitForText(alice, "and back from node B");
  // Presence is counted across nodes: each page lists the user connected to the other node.
  await alice.waitForFunction(() => document.querySelector("#online").textContent.includes("bob"));
  await bob.waitForFunction(() => document.querySelector("#online").textContent.includes("alice"));
  // Both pages show the same messages in the same order, with the ids Redis gave them.
  const order = (p) => p.$$eval("#messages li.msg:not(.pending) .text", (els) => els.map((e) => e.textContent));
  assert.deepEqual(await order(alice), await order(bob));
});
