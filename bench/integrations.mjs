// Benchmarks of issue 29's integrations, on loopback, bounded in count and time:
//  1. Web Push throughput: 1,000 users with a browser subscription each, in one room at level
//     "all"; 10 messages make 10,000 pushes to a local push service, which decrypts every one
//     (npm http_ece) and answers 201. Reported: seconds from the first publish to the last push.
//  2. A webhook costs the publisher nothing: publish latency (HTTP round trip of POST
//     /rooms/{room}/messages) at a fixed rate, without a webhook and with one whose receiver
//     answers after 50 ms, taking turns, three runs each; p50 and p99 of each, and the medians.
// Usage: node bench/integrations.mjs [--binary build/ssechat] [--out bench/out/integrations.jsonl]
// The server is pinned to CPU 0 and this tool (with the receivers) to CPU 1 when taskset exists.
import { spawn, spawnSync } from "node:child_process";
import { createECDH, createHmac, randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "../tests/browser/package.json"));
const ece = require("http_ece");
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const BINARY = arg("--binary", join(here, "../build/ssechat"));
const OUT = arg("--out", join(here, "out/integrations.jsonl"));
const SECRET = "bench-secret";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const commit = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: here }).stdout.toString().trim();
spawnSync("taskset", ["-cp", "1", String(process.pid)], { stdio: "ignore" });

function token(sub) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const part = b64({ alg: "HS256", typ: "JWT" }) + "." + b64({ sub, exp: Math.floor(Date.now() / 1000) + 3600 });
  return part + "." + createHmac("sha256", SECRET).update(part).digest("base64url");
}

function start(dir, extra = []) {
  return new Promise((resolve, reject) => {
    const args = ["--port", "0", "--data", dir, "--publish-rate", "0", "--allow-private-targets",
      "--jwt-secret", SECRET, "--log-level", "warn", ...(process.env.BENCH_ARGS || "").split(" ").filter(Boolean), ...extra];
    const child = spawn("taskset", ["-c", "0", BINARY, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    const timer = setTimeout(() => reject(new Error("no banner")), 30000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening at https?:\/\/localhost:(\d+)/);
      if (m) { clearTimeout(timer); resolve({ child, port: Number(m[1]) }); }
    });
  });
}
function stop(s) {
  return new Promise((resolve) => { s.child.on("exit", resolve); s.child.kill("SIGTERM"); });
}

async function call(port, user, method, path, body) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method, headers: { Authorization: `Bearer ${token(user)}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

function listen(handler) {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function pushBench() {
  const USERS = 1000, MESSAGES = 10, LIMIT_MS = 120000;
  const subs = new Map();
  let got = 0, bad = 0, last = 0;
  const service = await listen((req, res) => {
    const chunks = [];
    req.on("data", (d) => chunks.push(d));
    req.on("end", () => {
      const k = subs.get(req.url.slice(1));
      try {
        JSON.parse(ece.decrypt(Buffer.concat(chunks), { version: "aes128gcm", privateKey: k.ecdh, authSecret: k.auth }));
        got++;
        last = Date.now();
      } catch { bad++; }
      res.writeHead(201);
      res.end();
    });
  });
  const origin = `http://127.0.0.1:${service.address().port}`;
  const dir = mkdtempSync(join(tmpdir(), "ssechat-bench-push-"));
  const s = await start(dir);
  // Subscribed, joined and at level all: 50 users at a time.
  for (let i = 0; i < USERS; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, USERS - i) }, async (_, j) => {
      const user = "u" + (i + j);
      const ecdh = createECDH("prime256v1");
      ecdh.generateKeys();
      const auth = randomBytes(16);
      subs.set(user, { ecdh, auth });
      await call(s.port, user, "PUT", "/me/push", { endpoint: `${origin}/${user}`,
        keys: { p256dh: ecdh.getPublicKey().toString("base64url"), auth: auth.toString("base64url") } });
      await call(s.port, user, "PUT", "/me/rooms/bench");
      await call(s.port, user, "PUT", "/me/rooms/bench/notify", { level: "all" });
    }));
  }
  await sleep(2500);  // every subscription seen by the engine
  const t0 = Date.now();
  for (let m = 0; m < MESSAGES; m++)
    await call(s.port, "sender", "POST", "/rooms/bench/messages", { message: "build " + m + " failed" });
  while (got + bad < USERS * MESSAGES && Date.now() - t0 < LIMIT_MS) await sleep(100);
  const secs = ((last || Date.now()) - t0) / 1000;
  await stop(s);
  service.close();
  rmSync(dir, { recursive: true, force: true });
  return { scenario: "push", pushes: got, undecryptable: bad, expected: USERS * MESSAGES, seconds: secs,
    per_second: Math.round(got / secs) };
}

function pct(xs, p) {
  const a = [...xs].sort((x, y) => x - y);
  return a[Math.min(a.length - 1, Math.floor(a.length * p))];
}

async function publishRun(withHook) {
  const RATE = 200, COUNT = 2000;
  const dir = mkdtempSync(join(tmpdir(), "ssechat-bench-hook-"));
  const s = await start(dir);
  let received = 0;
  const receiver = await listen((req, res) => {
    req.resume();
    req.on("end", () => setTimeout(() => { received++; res.writeHead(204); res.end(); }, 50));
  });
  if (withHook) {
    const key = spawnSync(BINARY, ["apikey", "create", "--name", "ops", "--scopes", "admin", "--data", dir]).stdout.toString().trim();
    const r = await fetch(`http://127.0.0.1:${s.port}/admin/webhooks`, {
      method: "POST", headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: JSON.stringify({ url: `http://127.0.0.1:${receiver.address().port}/hook`, events: ["message"], rooms: null }),
    });
    if (r.status !== 201) throw new Error("webhook: " + r.status);
  }
  const lat = [];
  const t0 = performance.now();
  const inflight = [];
  for (let i = 0; i < COUNT; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    inflight.push((async () => {
      const a = performance.now();
      const r = await call(s.port, "pub", "POST", "/rooms/r" + (i % 10) + "/messages", { message: "m" + i });
      if (r.status === 201) lat.push(performance.now() - a);
    })());
  }
  await Promise.all(inflight);
  const end = Date.now() + 30000;
  while (withHook && received < COUNT && Date.now() < end) await sleep(100);
  await stop(s);
  receiver.close();
  rmSync(dir, { recursive: true, force: true });
  return { scenario: withHook ? "publish_with_webhook" : "publish_without_webhook", publishes: lat.length,
    p50_ms: +pct(lat, 0.5).toFixed(2), p99_ms: +pct(lat, 0.99).toFixed(2), webhook_deliveries: withHook ? received : null };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
mkdirSync(dirname(OUT), { recursive: true });
const record = (r) => {
  const line = { commit, ...r };
  appendFileSync(OUT, JSON.stringify(line) + "\n");
  console.log(JSON.stringify(line));
};
if (!process.env.BENCH_SKIP_PUSH) for (let i = 0; i < 3; i++) record({ run: i + 1, ...(await pushBench()) });
const runs = { publish_without_webhook: [], publish_with_webhook: [] };
for (let i = 0; i < 3; i++)
  for (const hook of [false, true]) {
    const r = await publishRun(hook);
    runs[r.scenario].push(r);
    record({ run: i + 1, ...r });
  }
for (const [k, v] of Object.entries(runs))
  console.log(`${k}: p50 ${median(v.map((r) => r.p50_ms))} ms, p99 ${median(v.map((r) => r.p99_ms))} ms (median of ${v.length})`);
