// Webhooks end to end, checked by an implementation we did not write: every delivery is
// verified with the npm standardwebhooks package. Types and order, a receiver that is down and
// then back, kill -9 in the middle of deliveries, a slow receiver beside a fast one, the
// deliveries list, and server-side request forgery refused. No browser: node and the binary.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { makeTestCerts, runBinary, startRedis, startServer, stopServer } from "./lib.mjs";

const dirs = [];
const servers = [];
after(async () => {
  for (const s of servers) s.child.kill("SIGKILL");
  for (const r of receivers) r.server.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A receiver on loopback: verifies each request with standardwebhooks (once its secret is
// known), records what it got, and answers `status` after `delay` ms.
const receivers = [];
function receiver(tls = null) {
  const r = { got: [], status: 204, delay: 0, retryAfter: null, verifier: null, bad: [] };
  const make = tls ? (h) => createTlsServer(tls, h) : createServer;
  r.server = make((req, res) => {
    let body = "";
    req.on("data", (d) => { body += d; });
    req.on("end", async () => {
      const headers = {
        "webhook-id": req.headers["webhook-id"],
        "webhook-timestamp": req.headers["webhook-timestamp"],
        "webhook-signature": req.headers["webhook-signature"],
      };
      let payload = null;
      try {
        payload = r.verifier.verify(body, headers);
      } catch (e) {
        r.bad.push(String(e));
      }
      const status = r.status;
      if (payload && status >= 200 && status < 300) r.got.push({ id: headers["webhook-id"], payload });
      r.tries = (r.tries || 0) + 1;
      if (r.delay) await sleep(r.delay);
      const h = r.retryAfter && status >= 300 ? { "Retry-After": String(r.retryAfter) } : {};
      res.writeHead(status, h);
      res.end();
    });
  });
  receivers.push(r);
  return new Promise((resolve) => r.server.listen(0, "127.0.0.1", () => {
    r.url = `${tls ? "https" : "http"}://127.0.0.1:${r.server.address().port}/hook`;
    resolve(r);
  }));
}

async function node(dir, extra = []) {
  const s = await startServer(0, ["--data", dir, "--publish-rate", "0", "--allow-private-targets",
    "--jwt-secret", "webhook-tests-secret", ...extra]);
  servers.push(s);
  return s;
}
async function adminKey(dir) {
  return runBinary(["apikey", "create", "--name", "ops", "--scopes", "admin,publish,rooms",
    "--data", dir]);
}
function api(port, key) {
  return async (method, path, body) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, {
      method, headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
}
async function until(pred, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${typeof what === "function" ? what() : what}`);
}
async function hook(call, r, events = ["message", "edit", "delete", "reaction", "member", "room"],
  rooms = null) {
  const made = await call("POST", "/admin/webhooks", { url: r.url, events, rooms });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  assert.match(made.body.secret, /^whsec_/);
  r.verifier = new Webhook(made.body.secret);
  return made.body;
}

test("deliveries are signed, typed and in order, and only for the rooms and events asked", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-hooks-")); dirs.push(dir);
  const key = await adminKey(dir);
  const s = await node(dir);
  const call = api(s.port, key);
  // Before the webhook: never delivered (it starts at the end of the log).
  assert.equal((await call("POST", "/rooms/ops/messages", { message: "before" })).status, 201);
  const all = await receiver();
  const some = await receiver();
  const w = await hook(call, all);
  await hook(call, some, ["message"], ["ops"]);
  const m = (await call("POST", "/rooms/ops/messages", { message: "deploy 41" })).body;
  assert.equal((await call("PATCH", `/rooms/ops/messages/${m.id}`, { message: "deploy 42" })).status, 200);
  assert.equal((await call("PUT", `/rooms/ops/messages/${m.id}/reactions/%F0%9F%91%8D`)).status, 200);
  assert.equal((await call("DELETE", `/rooms/ops/messages/${m.id}/reactions/%F0%9F%91%8D`)).status, 200);
  assert.equal((await call("POST", "/rooms/other/messages", { message: "elsewhere" })).status, 201);
  assert.equal((await call("DELETE", `/rooms/ops/messages/${m.id}`)).status, 200);
  const room = (await call("POST", "/rooms", { visibility: "private", name: "Plans" })).body.room;
  assert.equal((await call("PATCH", `/rooms/${room}`, { topic: "Q4" })).status, 200);
  await until(() => all.got.filter((g) => g.payload.data.room === "ops").length >= 5 &&
    all.got.some((g) => g.payload.type === "room.changed"), 15000, "every delivery");
  assert.deepEqual(all.bad, []);
  const ops = all.got.filter((g) => g.payload.data.room === "ops").map((g) => g.payload.type);
  assert.deepEqual(ops, ["message.created", "message.edited", "reaction.added", "reaction.removed",
    "message.deleted"]);
  assert.ok(!all.got.some((g) => g.payload.data.message === "before"));
  const created = all.got[0].payload;
  assert.equal(created.data.id, m.id);
  assert.equal(created.data.user_id, "ops");
  assert.ok(!Number.isNaN(Date.parse(created.timestamp)));
  assert.ok(all.got.some((g) => g.payload.type === "member.changed" && g.payload.data.room === room));
  // The filtered one: messages of ops only.
  await until(() => some.got.length >= 1, 5000, "the filtered delivery");
  await sleep(300);
  assert.deepEqual(some.got.map((g) => g.payload.type), ["message.created"]);
  assert.deepEqual(some.bad, []);
  // The admin's view: the webhook without its secret, and its deliveries, newest first.
  const got = await call("GET", `/admin/webhooks/${w.id}`);
  assert.equal(got.status, 200);
  assert.equal(got.body.secret, undefined);
  const d = await call("GET", `/admin/webhooks/${w.id}/deliveries`);
  assert.equal(d.status, 200);
  assert.ok(d.body.deliveries.length >= 7);
  assert.equal(d.body.deliveries.at(-1).type, "message.created");
  assert.equal(d.body.deliveries[0].status, 204);
  for (const x of d.body.deliveries) assert.match(x.message_id, /^msg_/);
  assert.equal((await call("DELETE", `/admin/webhooks/${w.id}`)).status, 204);
  assert.equal((await call("GET", `/admin/webhooks/${w.id}`)).status, 404);
  await stopServer(s);
});

test("a receiver that is down gets everything once it is back, in order, Retry-After honoured", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-hooks-")); dirs.push(dir);
  const key = await adminKey(dir);
  const s = await node(dir);
  const call = api(s.port, key);
  const r = await receiver();
  const w = await hook(call, r, ["message"]);
  r.status = 503;
  r.retryAfter = 2;
  const sent = [];
  for (let i = 0; i < 30; i++) {
    const room = `r${i % 3}`;
    sent.push({ room, id: (await call("POST", `/rooms/${room}/messages`, { message: `m${i}` })).body.id });
  }
  await until(() => (r.tries || 0) >= 3, 10000, "failed attempts");
  // Attempts are written with the cursors once a tick (a tenth of a second).
  let failed = [];
  for (let i = 0; i < 40 && failed.length < 3; i++) {
    failed = (await call("GET", `/admin/webhooks/${w.id}/deliveries`)).body.deliveries;
    if (failed.length < 3) await sleep(50);
  }
  assert.ok(failed.length >= 3);
  assert.equal(failed[0].status, 503);
  assert.equal(failed[0].error, "answered 503");
  // One room's retries are at least Retry-After apart.
  const first = failed.filter((x) => x.message_id === failed.at(-1).message_id).map((x) => x.ts).sort();
  if (first.length > 1) assert.ok(first[1] - first[0] >= 1900, `retried after ${first[1] - first[0]} ms`);
  await sleep(4000);  // down for a while
  r.status = 200;
  r.retryAfter = null;
  await until(() => r.got.length >= 30, 30000, "everything after the outage");
  for (const room of ["r0", "r1", "r2"]) {
    const want = sent.filter((x) => x.room === room).map((x) => x.id);
    const seen = r.got.filter((g) => g.payload.data.room === room).map((g) => g.payload.data.id);
    assert.deepEqual([...new Set(seen)], want, `room ${room} in order`);
  }
  assert.deepEqual(r.bad, []);
  await stopServer(s);
});

test("kill -9 in the middle repeats with the same webhook-id and skips nothing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-hooks-")); dirs.push(dir);
  const key = await adminKey(dir);
  let s = await node(dir);
  let call = api(s.port, key);
  const r = await receiver();
  await hook(call, r, ["message"]);
  r.delay = 300;  // deliveries in flight when the server dies
  const ids = [];
  for (let i = 0; i < 20; i++)
    ids.push((await call("POST", `/rooms/k${i % 4}/messages`, { message: `k${i}` })).body.id + `@k${i % 4}`);
  await until(() => r.got.length >= 4, 10000, "some deliveries");
  s.child.kill("SIGKILL");
  await new Promise((res) => s.child.once("exit", res));
  const before = r.got.length;
  r.delay = 0;
  s = await node(dir);
  call = api(s.port, key);
  await until(() => new Set(r.got.map((g) => g.id)).size >= 20, 20000, "every message after the restart");
  const byId = new Map();
  for (const g of r.got) {
    const k = `${g.payload.data.id}@${g.payload.data.room}`;
    if (byId.has(k)) assert.equal(byId.get(k), g.id, "a repeat has the same webhook-id");
    byId.set(k, g.id);
  }
  assert.deepEqual([...byId.keys()].sort(), [...ids].sort());
  assert.ok(r.got.length - 20 <= 4 * 2, `repeated ${r.got.length - 20} (in flight: at most a few)`);
  assert.ok(before < 20);
  await stopServer(s);
});

test("a slow receiver does not delay a fast one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-hooks-")); dirs.push(dir);
  const key = await adminKey(dir);
  const s = await node(dir);
  const call = api(s.port, key);
  const slow = await receiver();
  const fast = await receiver();
  slow.delay = 8000;
  await hook(call, slow, ["message"]);
  await hook(call, fast, ["message"]);
  const t0 = Date.now();
  for (let i = 0; i < 10; i++) await call("POST", `/rooms/s${i}/messages`, { message: `s${i}` });
  await until(() => fast.got.length >= 10, 5000, "the fast receiver");
  assert.ok(Date.now() - t0 < 5000);
  assert.ok(slow.got.length <= 4, "the slow one has at most --webhook-concurrency in flight");
  await stopServer(s);
});

test("targets on loopback, private, link-local addresses, or http, are refused", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-hooks-")); dirs.push(dir);
  const key = await adminKey(dir);
  const s = await startServer(0, ["--data", dir]);
  servers.push(s);
  const call = api(s.port, key);
  for (const url of ["https://127.0.0.1/h", "https://10.1.2.3/h", "https://169.254.169.254/latest",
    "https://[::1]:8443/h", "https://192.168.0.10/h", "https://localhost/h", "http://example.com/h",
    "ftp://example.com/h", "https://[::ffff:127.0.0.1]/h"]) {
    const r = await call("POST", "/admin/webhooks", { url, events: ["message"] });
    assert.equal(r.status, 400, `${url}: ${JSON.stringify(r.body)}`);
    assert.ok(r.body.error.length > 10, url);
  }
  assert.equal((await call("GET", "/admin/webhooks")).body.webhooks.length, 0);
  const bad = await call("POST", "/admin/webhooks", { url: "https://example.com/h", events: ["fly"] });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /fly/);
  await stopServer(s);
});

test("an https receiver is reached when its certificate chains to --outbound-ca, and not otherwise", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-hooks-")); dirs.push(dir);
  makeTestCerts(dir);
  const tls = { key: readFileSync(join(dir, "server.key")), cert: readFileSync(join(dir, "server.pem")) };
  const key = await adminKey(dir);
  // Without the test's CA: the certificate is not trusted, and the delivery says so.
  let s = await node(dir);
  let call = api(s.port, key);
  const r = await receiver(tls);
  const w = await hook(call, r, ["message"]);
  await call("POST", "/rooms/tls/messages", { message: "untrusted" });
  let failed = [];
  for (let i = 0; i < 100 && failed.length === 0; i++) {
    await sleep(100);
    failed = (await call("GET", `/admin/webhooks/${w.id}/deliveries`)).body.deliveries;
  }
  assert.ok(failed.length > 0, "a failed attempt");
  assert.equal(failed[0].status, 0);
  assert.match(failed[0].error, /certificate/);
  assert.equal(r.got.length, 0);
  await stopServer(s);
  // With it: the same delivery goes through (its cursor had not moved).
  s = await node(dir, ["--outbound-ca", join(dir, "ca.pem")]);
  call = api(s.port, key);
  await until(() => r.got.length >= 1, 10000, "the delivery over https");
  assert.equal(r.got[0].payload.data.message, "untrusted");
  assert.deepEqual(r.bad, []);
  await stopServer(s);
});

test("ssechat webhook makes, changes and removes webhooks beside a running server", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-hooks-")); dirs.push(dir);
  const key = await adminKey(dir);
  const s = await node(dir);
  const call = api(s.port, key);
  await call("POST", "/rooms/cli/messages", { message: "before" });
  const r = await receiver();
  const made = JSON.parse(await runBinary(["webhook", "create", "--url", r.url, "--events",
    "message,edit", "--rooms", "cli", "--data", dir, "--allow-private-targets"]));
  assert.match(made.id, /^wh_/);
  r.verifier = new Webhook(made.secret);
  assert.deepEqual(made.events, ["message", "edit"]);
  assert.deepEqual(made.rooms, ["cli"]);
  await sleep(1300);  // the server reads its webhooks again every second
  await call("POST", "/rooms/cli/messages", { message: "after" });
  await call("POST", "/rooms/elsewhere/messages", { message: "not this room" });
  await until(() => r.got.length >= 1, 10000, "the delivery");
  assert.equal(r.got[0].payload.data.message, "after");
  const listed = (await runBinary(["webhook", "list", "--data", dir])).split("\n").map((l) => JSON.parse(l));
  assert.equal(listed.length, 1);
  assert.equal(listed[0].secret, undefined);
  await runBinary(["webhook", "update", made.id, "--disable", "--data", dir, "--allow-private-targets"]);
  assert.equal((await call("GET", `/admin/webhooks/${made.id}`)).body.disabled, true);
  await sleep(1300);
  await call("POST", "/rooms/cli/messages", { message: "while disabled" });
  await sleep(1000);
  assert.equal(r.got.length, 1);
  await runBinary(["webhook", "delete", made.id, "--data", dir]);
  assert.equal((await call("GET", `/admin/webhooks/${made.id}`)).status, 404);
  await stopServer(s);
});

// A node on the Redis store `store`, an admin key made by the CLI, and a receiver with a
// webhook for messages on it.
// `cli`: the store flags the command line uses to make the key (the server's by default).
async function redisHooked(store, cli = store) {
  const key = await runBinary(["apikey", "create", "--name", "ops", "--scopes", "admin,publish", ...cli]);
  const s = await startServer(0, [...store, "--publish-rate", "0", "--allow-private-targets"]);
  servers.push(s);
  const call = api(s.port, key);
  const r = await receiver();
  await hook(call, r, ["message"]);
  return { s, call, r, key };
}

test("on Redis one node delivers each webhook, and another takes over when it dies", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-hooks-redis-")); dirs.push(dir);
  const { port, child: redis } = await startRedis(dir);
  after(() => redis.kill("SIGKILL"));
  const store = ["--store", "redis", "--redis", `redis://127.0.0.1:${port}`];
  // A alone first: it makes the webhook and takes its lease.
  const { s: a, call: callA, r, key } = await redisHooked(store);
  const first = (await callA("POST", "/rooms/lobby/messages", { message: "A alone" })).body.id;
  await until(() => r.got.length >= 1, 10000, "A's first delivery");
  const b = await startServer(0, [...store, "--publish-rate", "0", "--allow-private-targets"]);
  servers.push(b);
  const callB = api(b.port, key);
  const sent = [first];
  for (let i = 0; i < 20; i++) {
    const call = i % 2 ? callB : callA;
    sent.push((await call("POST", "/rooms/lobby/messages", { message: `n${i}` })).body.id);
  }
  await until(() => r.got.length >= 21, 15000, "every message through one node");
  await sleep(500);
  assert.equal(r.got.length, 21, "each once: only the lease holder delivers");
  assert.deepEqual(r.got.map((g) => g.payload.data.id), sent);
  assert.deepEqual(r.bad, []);
  // The holder dies; B takes the webhook over within 30 s and delivers what A never did.
  a.child.kill("SIGKILL");
  const t0 = Date.now();
  const late = (await callB("POST", "/rooms/lobby/messages", { message: "after A" })).body.id;
  await until(() => r.got.some((g) => g.payload.data.id === late), 30000, "B taking over");
  // Not at once: B waited for A's lease to lapse (20 s after A's last renewal).
  assert.ok(Date.now() - t0 > 10000, `taken over after ${Date.now() - t0} ms`);
  assert.ok(Date.now() - t0 < 30000);
  await stopServer(b);
});

test("on Redis a webhook far behind keeps the log from being trimmed past it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-hooks-pin-")); dirs.push(dir);
  const { port, child: redis } = await startRedis(dir);
  after(() => redis.kill("SIGKILL"));
  // A log of about 200 entries: more than is added between two reads of the engine (a tenth
  // of a second apart), far fewer than it reads ahead (1,000) plus what is sent.
  const store = ["--store", "redis", "--redis", `redis://127.0.0.1:${port}`, "--redis-log-max", "200"];
  const { s, call, r } = await redisHooked(store);
  r.status = 503;  // down while 1,500 messages are sent
  const sent = [];
  for (let i = 0; i < 1500; i += 50) {
    const ids = await Promise.all(Array.from({ length: 50 }, (_, j) =>
      call("POST", "/rooms/lobby/messages", { message: `m${i + j}` }).then((x) => x.body.id)));
    sent.push(...ids);
  }
  const len = Number(execFileSync("redis-cli", ["-p", String(port), "XLEN", "ssechat:log"]).toString());
  assert.ok(len >= 500, `the log was kept while the webhook was behind (${len} entries)`);
  r.status = 204;
  await until(() => r.got.length >= 1500, 60000, () => `every message after the receiver came back (${r.got.length} came)`);
  assert.deepEqual(r.got.map((g) => g.payload.data.id), [...sent].sort((a, b) => a - b));
  assert.deepEqual(r.bad, []);
  await stopServer(s);
});

test("with --redis-replicas a webhook gets only what the replicas have", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-hooks-wait-")); dirs.push(dir);
  const { port: mport, child: master } = await startRedis(dir);
  const { port: rport, child: replica } = await startRedis(dir,
    ["--replicaof", "127.0.0.1", String(mport), "--enable-debug-command", "yes"]);
  after(() => { master.kill("SIGKILL"); replica.kill("SIGKILL"); });
  for (let i = 0; i < 100; i++) {
    try {
      const info = execFileSync("redis-cli", ["-p", String(rport), "info", "replication"]).toString();
      if (info.includes("master_link_status:up")) break;
    } catch { /* not up yet */ }
    await sleep(100);
  }
  // Linked is not yet acknowledging: a write, and WAIT for the replica, on one connection.
  for (let i = 0; i < 100; i++) {
    const out = execFileSync("redis-cli", ["-p", String(mport)],
      { input: "SET test:probe 1\nWAIT 1 2000\n" }).toString();
    if (out.trim().split("\n").pop() === "1") break;
    await sleep(100);
  }
  const base = ["--store", "redis", "--redis", `redis://127.0.0.1:${mport}`, "--redis-replicas", "1"];
  // The server waits 500 ms for the replica (so the sleeping replica below answers 503 soon);
  // making the key beforehand may wait longer on a loaded machine.
  const store = [...base, "--redis-wait-ms", "500"];
  const { s, call, r } = await redisHooked(store, [...base, "--redis-wait-ms", "5000"]);
  const first = await call("POST", "/rooms/lobby/messages", { message: "confirmed" });
  assert.equal(first.status, 201);
  await until(() => r.got.length === 1, 10000, "the confirmed message");
  // The replica stops for 3 s: the next publish is not confirmed (503) and is not delivered.
  const sleeping = spawn("redis-cli", ["-p", String(rport), "DEBUG", "SLEEP", "3"], { stdio: "ignore" });
  await sleep(200);
  const second = await call("POST", "/rooms/lobby/messages", { message: "not yet on the replica" });
  assert.equal(second.status, 503, JSON.stringify(second.body));
  await sleep(1500);
  assert.equal(r.got.length, 1, "nothing the replica may not have");
  await new Promise((resolve) => sleeping.on("exit", resolve));
  // Back: the next confirmation covers both, and both are delivered, in order.
  assert.equal((await call("POST", "/rooms/lobby/messages", { message: "after" })).status, 201);
  await until(() => r.got.length === 3, 10000, "both after the replica is back");
  assert.deepEqual(r.got.map((g) => g.payload.data.message), ["confirmed", "not yet on the replica", "after"]);
  await stopServer(s);
});

test("on two Redis shards a webhook gets every room's messages, each room in order, across a restart", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-hooks-shards-")); dirs.push(dir);
  const one = await startRedis(dir), two = await startRedis(dir);
  after(() => { one.child.kill("SIGKILL"); two.child.kill("SIGKILL"); });
  const store = ["--store", "redis", "--redis",
    `redis://127.0.0.1:${one.port},redis://127.0.0.1:${two.port}`];
  const key = await runBinary(["apikey", "create", "--name", "ops", "--scopes", "admin,publish", ...store]);
  const flags = [...store, "--publish-rate", "0", "--allow-private-targets"];
  let s = await startServer(0, flags);
  servers.push(s);
  let call = api(s.port, key);
  const r = await receiver();
  const made = await hook(call, r, ["message"]);
  // room-0 lives on the first shard, room-1 on the second (util/placement.hpp).
  const sent = { "room-0": [], "room-1": [] };
  const send = async (n) => {
    for (let i = 0; i < n; i++) {
      const room = i % 2 ? "room-1" : "room-0";
      sent[room].push((await call("POST", `/rooms/${room}/messages`, { message: `m${i}` })).body.id);
    }
  };
  await send(30);
  await until(() => r.got.length >= 30, 15000, () => `30 deliveries (${r.got.length} came)`);
  // Each shard's cursor is kept on the first shard, beside the webhook.
  const cursor = (field) => execFileSync("redis-cli",
    ["-p", String(one.port), "HGET", `ssechat:webhook:${made.id}`, field]).toString().trim();
  await until(() => Number(cursor("k")) > 0 && Number(cursor("k1")) > 0, 5000, "both cursors saved");
  await stopServer(s);
  s = await startServer(0, flags);
  servers.push(s);
  call = api(s.port, key);
  await send(6);
  // The stopped node's lease lapses first (20 s after its last renewal).
  await until(() => new Set(r.got.map((g) => g.id)).size >= 36, 40000, () => `36 deliveries (${r.got.length} came)`);
  await sleep(300);
  for (const room of ["room-0", "room-1"]) {
    const seen = [];
    for (const g of r.got)
      if (g.payload.data.room === room && !seen.includes(g.payload.data.id)) seen.push(g.payload.data.id);
    assert.deepEqual(seen, sent[room], `${room}: every message, in order`);
  }
  assert.deepEqual(r.bad, []);
  await stopServer(s);
});
