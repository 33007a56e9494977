// Web Push end to end against a push service on loopback that we did not write the crypto of:
// each push is decrypted with the npm http_ece package (RFC 8291 aes128gcm) using a browser-
// like key pair made here, and its VAPID token (RFC 8292) is checked with node's own ES256
// verification, audience, expiry and contact. The service answers 201, 404, 410 or 429 on
// demand. On SQLite, and on Redis with two nodes. No browser: node and the binary.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createECDH, createHmac, createPublicKey, randomBytes, verify } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ece from "http_ece";
import { startRedis, startServer, stopServer } from "./lib.mjs";

const SECRET = "push-tests-secret";
const CONTACT = "mailto:ops@example.com";
const dirs = [];
const servers = [];
let service;
before(async () => { service = await pushService(); });
after(async () => {
  for (const s of servers) s.child.kill("SIGKILL");
  if (service) service.server.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sign(sub) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const part = b64({ alg: "HS256", typ: "JWT" }) + "." + b64({ sub, exp: Math.floor(Date.now() / 1000) + 3600 });
  return part + "." + createHmac("sha256", SECRET).update(part).digest("base64url");
}

// A "browser": its P-256 key pair and auth secret, as PushManager.subscribe() makes them.
function browserKeys() {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const auth = randomBytes(16);
  return { ecdh, auth, keys: { p256dh: ecdh.getPublicKey().toString("base64url"), auth: auth.toString("base64url") } };
}

// The push service: /push/<name> for each subscription; `answers[name]` is a list of statuses
// to answer in turn (then 201). Every request's VAPID token is checked against `vapidKey`.
function pushService() {
  const s = { got: [], bad: [], answers: {}, tries: {}, vapidKey: null };
  s.server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (d) => chunks.push(d));
    req.on("end", () => {
      const name = req.url.split("/").pop();
      s.tries[name] = (s.tries[name] || 0) + 1;
      const body = Buffer.concat(chunks);
      try {
        const auth = req.headers.authorization || "";
        const m = auth.match(/^vapid t=([^,]+), k=([A-Za-z0-9_-]+)$/);
        assert.ok(m, "Authorization: vapid t=…, k=…: " + auth);
        assert.equal(m[2], s.vapidKey, "k is the server's key (GET /push/key)");
        const [h, c, sig] = m[1].split(".");
        assert.deepEqual(JSON.parse(Buffer.from(h, "base64url")), { typ: "JWT", alg: "ES256" });
        const claims = JSON.parse(Buffer.from(c, "base64url"));
        assert.equal(claims.aud, s.origin);
        assert.equal(claims.sub, CONTACT);
        const now = Date.now() / 1000;
        assert.ok(claims.exp > now && claims.exp <= now + 24 * 3600, "exp within 24 h");
        const point = Buffer.from(m[2], "base64url");
        const key = createPublicKey({ format: "jwk", key: { kty: "EC", crv: "P-256",
          x: point.subarray(1, 33).toString("base64url"), y: point.subarray(33).toString("base64url") } });
        assert.ok(verify("sha256", Buffer.from(h + "." + c), { key, dsaEncoding: "ieee-p1363" },
          Buffer.from(sig, "base64url")), "the ES256 signature verifies");
        assert.equal(req.headers["content-encoding"], "aes128gcm");
        assert.equal(req.headers.ttl, "86400");
        assert.match(req.headers.topic, /^[A-Za-z0-9_-]{1,32}$/);
        const sub = s.subs[name];
        const plain = ece.decrypt(body, { version: "aes128gcm", privateKey: sub.ecdh, authSecret: sub.auth });
        const queue = s.answers[name] || [];
        const status = queue.length ? queue.shift() : 201;
        if (status === 201)
          s.got.push({ name, payload: JSON.parse(plain.toString()), urgency: req.headers.urgency, topic: req.headers.topic });
        res.writeHead(status, status === 429 ? { "Retry-After": "1" } : {});
        res.end();
      } catch (e) {
        s.bad.push(String(e.stack || e));
        res.writeHead(400);
        res.end();
      }
    });
  });
  s.subs = {};
  return new Promise((resolve) => s.server.listen(0, "127.0.0.1", () => {
    s.origin = `http://127.0.0.1:${s.server.address().port}`;
    resolve(s);
  }));
}

function api(port, user) {
  const token = sign(user);
  return async (method, path, body) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, {
      method, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
}

async function subscribe(port, user, name) {
  const k = browserKeys();
  service.subs[name] = k;
  const r = await api(port, user)("PUT", "/me/push",
    { endpoint: `${service.origin}/push/${name}`, expirationTime: null, keys: k.keys });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

async function until(what, f, ms = 8000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (f()) return;
    await sleep(50);
  }
  assert.fail("timed out waiting for " + what + "; got " + JSON.stringify(service.got) + " bad " + service.bad);
}

async function start(dir, store = []) {
  const s = await startServer(0, ["--data", dir, "--publish-rate", "0", "--allow-private-targets",
    "--jwt-secret", SECRET, "--push-contact", CONTACT, "--metrics-token", "push-metrics", ...store]);
  servers.push(s);
  const key = await (await fetch(`http://127.0.0.1:${s.port}/push/key`)).json();
  assert.equal(Buffer.from(key.key, "base64url").length, 65);
  service.vapidKey = key.key;
  return s;
}

test("pushes reach a user who is away: a DM, a mention, a reply; decrypted and VAPID-checked", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-push-"));
  dirs.push(dir);
  let s = await start(dir);
  const alice = api(s.port, "alice"), bob = api(s.port, "bob");
  await subscribe(s.port, "bob", "bob1");
  await subscribe(s.port, "bob", "bob2");  // a second browser gets its own push

  // A direct message: both of bob's browsers, kind dm, urgent.
  const dm = await alice("PUT", "/me/dms/bob");
  assert.ok(dm.status === 201 || dm.status === 200, JSON.stringify(dm.body));
  const room = dm.body.name;
  const sent = await alice("POST", `/rooms/${room}/messages`, { message: "are you there? " + "x".repeat(300) });
  assert.equal(sent.status, 201, JSON.stringify(sent.body));
  await until("the DM on both browsers", () => service.got.length >= 2);
  for (const g of service.got) {
    assert.deepEqual(Object.keys(g.payload).sort(), ["id", "kind", "room", "text", "user_id"]);
    assert.equal(g.payload.room, room);
    assert.equal(g.payload.id, sent.body.id);
    assert.equal(g.payload.user_id, "alice");
    assert.equal(g.payload.kind, "dm");
    assert.equal([...g.payload.text].length, 200, "the first 200 characters");
    assert.equal(g.urgency, "high");
  }
  assert.deepEqual(service.got.map((g) => g.name).sort(), ["bob1", "bob2"]);
  assert.equal(service.bad.length, 0, service.bad.join("\n"));

  // A public room bob is in: nothing for a plain message (level mentions), a push for a
  // mention and for a reply to his message.
  service.got.length = 0;
  assert.equal((await bob("PUT", "/me/rooms/lobby")).status, 200);
  const own = await bob("POST", "/rooms/lobby/messages", { message: "my idea" });
  await alice("POST", "/rooms/lobby/messages", { message: "plain talk" });
  await alice("POST", "/rooms/lobby/messages", { message: "hey @bob, look" });
  await alice("POST", "/rooms/lobby/messages", { message: "agreed", reply_to: own.body.id });
  await until("a mention and a reply", () => service.got.length >= 4);
  await sleep(500);
  const kinds = service.got.filter((g) => g.name === "bob1").map((g) => [g.payload.kind, g.urgency]);
  assert.deepEqual(kinds, [["mention", "high"], ["reply", "normal"]]);
  assert.notEqual(service.got[0].topic, undefined);

  // Levels: "none" for the DM stops its pushes; "all" for the room brings plain messages.
  const none = await bob("PUT", `/me/rooms/${room}/notify`, { level: "none" });
  assert.equal(none.status, 200, JSON.stringify(none.body));
  assert.equal(none.body.notify, "none");
  assert.equal(none.body.name, room);
  const all = await bob("PUT", "/me/rooms/lobby/notify", { level: "all" });
  assert.equal(all.body.notify, "all");
  const listed = await bob("GET", "/me/rooms");
  assert.deepEqual(Object.fromEntries(listed.body.rooms.map((r) => [r.name, r.notify])),
    { [room]: "none", lobby: "all" });
  service.got.length = 0;
  await alice("POST", `/rooms/${room}/messages`, { message: "muted dm" });
  await alice("POST", "/rooms/lobby/messages", { message: "anything" });
  await until("a plain message at level all", () => service.got.length >= 2);
  await sleep(500);
  assert.deepEqual(service.got.map((g) => [g.payload.text, g.payload.kind, g.urgency]),
    [["anything", "message", "normal"], ["anything", "message", "normal"]]);

  // Bad requests.
  assert.equal((await bob("PUT", "/me/rooms/lobby/notify", { level: "loud" })).status, 400);
  assert.equal((await bob("PUT", "/me/rooms/elsewhere/notify", { level: "all" })).status, 404);
  assert.equal((await bob("PUT", "/me/push", { endpoint: service.origin + "/x", keys: { p256dh: "AAAA", auth: "AAAA" } })).status, 400);
  assert.equal((await bob("PUT", "/me/push", { endpoint: "ftp://x/y", keys: browserKeys().keys })).status, 400);
  assert.equal((await bob("DELETE", "/me/push", { endpoint: service.origin + "/nothing" })).status, 404);

  // The key survives a restart.
  const before = service.vapidKey;
  await stopServer(servers.pop());
  s = await start(dir);
  assert.equal(service.vapidKey, before);
});

test("an open stream means no push; 410 drops a subscription, 429 is tried again", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-push-"));
  dirs.push(dir);
  const s = await start(dir);
  const alice = api(s.port, "alice"), carol = api(s.port, "carol"), dave = api(s.port, "dave");
  await subscribe(s.port, "carol", "carol1");
  await subscribe(s.port, "dave", "dave1");
  const room = (await alice("PUT", "/me/dms/carol")).body.name;
  const daveRoom = (await alice("PUT", "/me/dms/dave")).body.name;

  // Carol has her user stream open: the DM reaches her there, not by push.
  const ctl = new AbortController();
  const stream = await fetch(`http://127.0.0.1:${s.port}/me/events`,
    { headers: { Authorization: `Bearer ${sign("carol")}` }, signal: ctl.signal });
  assert.equal(stream.status, 200);
  await sleep(300);
  service.got.length = 0;
  await alice("POST", `/rooms/${room}/messages`, { message: "you are here" });
  await sleep(1500);
  assert.equal(service.got.filter((g) => g.name === "carol1").length, 0, "no push while online");
  ctl.abort();
  await sleep(500);
  await alice("POST", `/rooms/${room}/messages`, { message: "now you are away" });
  await until("the push once away", () => service.got.some((g) => g.name === "carol1"));

  // 429 then 201: the same push arrives on the retry (Retry-After: 1).
  service.answers.dave1 = [429];
  service.got.length = 0;
  await alice("POST", `/rooms/${daveRoom}/messages`, { message: "busy service" });
  await until("the retried push", () => service.got.some((g) => g.name === "dave1"), 10000);
  assert.equal(service.tries.dave1, 2);

  // 404 drops a subscription as 410 does: dave's second browser.
  await subscribe(s.port, "dave", "dave2");
  service.answers.dave2 = [404];
  await alice("POST", `/rooms/${daveRoom}/messages`, { message: "to both" });
  await until("the 404", () => service.tries.dave2 === 1);
  await sleep(300);
  await alice("POST", `/rooms/${daveRoom}/messages`, { message: "to one" });
  await until("the next push", () => service.got.some((g) => g.payload.text === "to one"));
  await sleep(500);
  assert.equal(service.tries.dave2, 1, "no push to a subscription the service called unknown");

  // 410: the subscription is dropped; nothing more is sent to it.
  service.answers.carol1 = [410];
  const triesBefore = service.tries.carol1;
  await alice("POST", `/rooms/${room}/messages`, { message: "gone" });
  await until("the 410", () => service.tries.carol1 === triesBefore + 1);
  await sleep(300);
  await alice("POST", `/rooms/${room}/messages`, { message: "after it" });
  await sleep(1500);
  assert.equal(service.tries.carol1, triesBefore + 1, "no push to a dropped subscription");
  // The outcomes are counted for operators.
  const metrics = await (await fetch(`http://127.0.0.1:${s.port}/metrics`,
    { headers: { Authorization: "Bearer push-metrics" } })).text();
  const count = (result) => Number(metrics.match(new RegExp(`^ssechat_pushes_total\\{result="${result}"\\} (\\d+)`, "m"))[1]);
  assert.equal(count("gone"), 2);
  assert.ok(count("retried") >= 1);
  assert.ok(count("sent") >= 2);
  // DELETE of it now: it is gone already.
  assert.equal((await carol("DELETE", "/me/push", { endpoint: `${service.origin}/push/carol1` })).status, 404);
  // And DELETE works for one that exists.
  assert.equal((await dave("DELETE", "/me/push", { endpoint: `${service.origin}/push/dave1` })).status, 204);
  assert.equal(service.bad.length, 0, service.bad.join("\n"));
});

test("on Redis: subscriptions, levels and the key are shared; one node sends each push once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-push-redis-"));
  dirs.push(dir);
  const { port, child: redis } = await startRedis(dir);
  after(() => redis.kill("SIGKILL"));
  const store = ["--store", "redis", "--redis", `redis://127.0.0.1:${port}`];
  const a = await start(dir, store);
  const keyA = service.vapidKey;
  const b = await start(dir, store);
  assert.equal(service.vapidKey, keyA, "one key for every node");
  const aliceA = api(a.port, "alice"), erinB = api(b.port, "erin"), erinA = api(a.port, "erin");
  await subscribe(b.port, "erin", "erin1");
  const room = (await aliceA("PUT", "/me/dms/erin")).body.name;
  service.got.length = 0;
  await aliceA("POST", `/rooms/${room}/messages`, { message: "across nodes" });
  await until("the push", () => service.got.some((g) => g.name === "erin1"));
  await sleep(1000);
  assert.deepEqual(service.got.map((g) => [g.name, g.payload.text, g.payload.kind]),
    [["erin1", "across nodes", "dm"]], "once, whichever node holds the lease");

  // A level set on one node shows on the other, and holds there.
  assert.equal((await erinA("PUT", `/me/rooms/${room}/notify`, { level: "mentions" })).body.notify, "mentions");
  const listed = await erinB("GET", "/me/rooms");
  assert.equal(listed.body.rooms.find((r) => r.name === room).notify, "mentions");
  service.got.length = 0;
  await aliceA("POST", `/rooms/${room}/messages`, { message: "plain" });
  await aliceA("POST", `/rooms/${room}/messages`, { message: "@erin this one" });
  await until("the mention", () => service.got.length >= 1);
  await sleep(800);
  assert.deepEqual(service.got.map((g) => g.payload.kind), ["mention"]);

  // Erin's stream open on B: a message sent through A does not push.
  const ctl = new AbortController();
  const stream = await fetch(`http://127.0.0.1:${b.port}/me/events`,
    { headers: { Authorization: `Bearer ${sign("erin")}` }, signal: ctl.signal });
  assert.equal(stream.status, 200);
  await sleep(500);
  service.got.length = 0;
  await aliceA("POST", `/rooms/${room}/messages`, { message: "@erin you are on B" });
  await sleep(1500);
  assert.equal(service.got.length, 0, "no push while online on another node");
  ctl.abort();
  assert.equal((await erinA("DELETE", "/me/push", { endpoint: `${service.origin}/push/erin1` })).status, 204);
  assert.equal(service.bad.length, 0, service.bad.join("\n"));
});

test("on two Redis shards: a message of a room on either shard is pushed, each once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ssechat-push-shards-"));
  dirs.push(dir);
  const one = await startRedis(dir), two = await startRedis(dir);
  after(() => { one.child.kill("SIGKILL"); two.child.kill("SIGKILL"); });
  const store = ["--store", "redis", "--redis",
    `redis://127.0.0.1:${one.port},redis://127.0.0.1:${two.port}`];
  const a = await start(dir, store);
  await subscribe(a.port, "erin", "erin9");
  service.got.length = 0;
  const alice = api(a.port, "alice");
  // room-0 lives on the first shard, room-1 on the second (util/placement.hpp).
  for (const room of ["room-0", "room-1", "room-0", "room-1"])
    assert.equal((await alice("POST", `/rooms/${room}/messages`, { message: `@erin in ${room}` })).status, 201);
  await until("four pushes", () => service.got.filter((g) => g.name === "erin9").length >= 4);
  await sleep(800);
  assert.deepEqual(service.got.map((g) => g.payload.text).sort(),
    ["@erin in room-0", "@erin in room-0", "@erin in room-1", "@erin in room-1"]);
  assert.equal(service.bad.length, 0, service.bad.join("\n"));
});
