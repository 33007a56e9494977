// The page's side of Web Push in Debian's headless chromium: permission is asked only when the
// user clicks "Turn on notifications", the service worker registers, the subscription is asked
// for with the server's VAPID key, and a push delivered to the worker (through the DevTools
// protocol: headless chromium has no push service) shows a notification for the room.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createECDH, randomBytes } from "node:crypto";
import { chromium } from "playwright-core";
import { FLAGS, startServer, stopServer, runBinary, failOnPageErrors } from "./lib.mjs";

const SECRET = "push-page-secret";
let server = null, base = "", browser = null;

before(async () => {
  server = await startServer(0, ["--store", "memory", "--publish-rate", "0", "--jwt-secret", SECRET,
    "--allow-private-targets"]);
  base = `http://127.0.0.1:${server.port}`;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await stopServer(server);
});

// Counts permission prompts, records what subscribe() was asked for and answers it with `made`.
const spy = (made) => {
  window.__asked = 0;
  const ask = Notification.requestPermission.bind(Notification);
  Notification.requestPermission = (...a) => { window.__asked++; return ask(...a); };
  PushManager.prototype.subscribe = async function (opts) {
    window.__subscribeKey = btoa(String.fromCharCode(...new Uint8Array(opts.applicationServerKey)));
    return { endpoint: made.endpoint, toJSON: () => made };
  };
};

test("notifications: asked only on a click, the worker registers, a push shows", async () => {
  const token = await runBinary(["token", "--sub", "alice", "--secret", SECRET, "--ttl", "1h"]);
  const made = { endpoint: "https://127.0.0.1:9/push/alice-browser",
    keys: { p256dh: createECDH("prime256v1").generateKeys().toString("base64url"),
      auth: randomBytes(16).toString("base64url") } };
  const context = await browser.newContext();
  await context.addInitScript(spy, made);
  const page = await context.newPage();
  failOnPageErrors(page, "alice");
  await page.goto(`${base}/#general&token=${encodeURIComponent(token)}`);
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 20000 });
  await page.waitForSelector("#push-btn:not([hidden])");
  assert.equal(await page.evaluate(() => window.__asked), 0, "no prompt before the click");
  assert.equal(await page.evaluate(() => Notification.permission), "default");
  assert.equal(await page.evaluate(async () => !!(await navigator.serviceWorker.getRegistration("/"))), false);

  await context.grantPermissions(["notifications"], { origin: base });
  await page.click("#push-btn");
  await page.waitForSelector("#push-note:not([hidden])", { timeout: 15000 });
  assert.equal(await page.evaluate(() => window.__asked), 1, "one prompt, on the click");
  const script = await page.evaluate(async () => {
    const r = await navigator.serviceWorker.ready;
    return r.active && r.active.scriptURL;
  });
  assert.equal(script, `${base}/sw.js`);
  // Subscribed with the server's key, and the subscription given to the server: alice's token
  // can remove it once (it was stored for her), and the button is gone.
  const { key } = await (await fetch(`${base}/push/key`)).json();
  const asked = await page.evaluate(() => window.__subscribeKey);
  assert.equal(Buffer.from(asked, "base64").toString("base64url"), key);
  const note = await page.textContent("#push-note");
  assert.match(note, /Notifications are on/, note);
  assert.equal(await page.isHidden("#push-btn"), true);
  const remove = () => fetch(`${base}/me/push`, { method: "DELETE",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ endpoint: made.endpoint }) });
  assert.equal((await remove()).status, 204);
  assert.equal((await remove()).status, 404);

  // A push as the server sends it, delivered to the worker: a notification for the room.
  const cdp = await context.newCDPSession(page);
  const regs = [];
  cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => regs.push(...e.registrations));
  await cdp.send("ServiceWorker.enable");
  for (let i = 0; i < 50 && !regs.some((r) => !r.isDeleted); i++) await new Promise((r) => setTimeout(r, 100));
  const reg = regs.find((r) => !r.isDeleted);
  assert.ok(reg, "the registration is visible to DevTools");
  // A worker that is still starting may miss a push (a loaded machine): sent again up to
  // twice; the notification's tag makes a second one replace the first, never add to it.
  let shown = [];
  for (let attempt = 0; attempt < 3 && !shown.length; attempt++) {
    await cdp.send("ServiceWorker.deliverPushMessage", { origin: base, registrationId: reg.registrationId,
      data: JSON.stringify({ room: "general", id: 3, user_id: "bob", text: "are you there?", kind: "mention" }) });
    for (let i = 0; i < 50 && !shown.length; i++) {
      shown = await page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications())
        .map((n) => [n.title, n.body, n.tag]));
      if (!shown.length) await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.deepEqual(shown, [["bob mentioned you", "are you there?", "ssechat:general"]]);
  await context.close();
});

test("a page a notification opens goes to the room at the message", async () => {
  const token = await runBinary(["token", "--sub", "carol", "--secret", SECRET, "--ttl", "1h"]);
  const ids = [];
  for (const text of ["first", "second", "third"]) {
    const r = await fetch(`${base}/rooms/notes/messages`, { method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ message: text }) });
    ids.push((await r.json()).id);
  }
  const context = await browser.newContext();
  const page = await context.newPage();
  failOnPageErrors(page, "carol");
  // What sw.js opens when no page is: the room, and the message after "&msg=".
  await page.goto(`${base}/#notes&msg=${ids[1]}&token=${encodeURIComponent(token)}`);
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 20000 });
  const flashed = await page.waitForSelector("#messages li.msg.flash", { timeout: 10000 });
  assert.match(await flashed.textContent(), /second/);
  assert.equal(await page.evaluate(() => location.hash), "#notes");
  await context.close();
});
