// Browser tests of one connection per user: unread and mention badges across two users, a read
// marker synced between two browsers of one user, "seen by", typing that expires, and a
// reload that resumes without duplicates. Every page uses one user stream for all its rooms.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { FLAGS, startServer, stopServer, openAs, say, waitForText, texts, publish } from "./lib.mjs";

const SHOTS = process.env.SCREENSHOT_DIR || "screenshots";
let server = null, base = "", browser = null;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer(0, ["--store", "memory", "--publish-rate", "0"]);
  base = `http://127.0.0.1:${server.port}`;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await stopServer(server);
});

// The sidebar entry of a joined room, as a locator.
const entry = (page, room) => page.locator(`#rooms li[data-room="${room}"] a`);
const countOf = (page, room) => entry(page, room).locator(".count").textContent();
async function waitCount(page, room, text, timeout = 10000) {
  await page.waitForFunction(([r, t]) => {
    const c = document.querySelector(`#rooms li[data-room="${r}"] a .count`);
    return t === null ? !c : c && c.textContent === t;
  }, [room, text], { timeout });
}

test("unread and mention badges, bold while unread, the total in the title, cleared on reading", async () => {
  const a = await browser.newContext(), b = await browser.newContext();
  const alice = await openAs(a, base, "alice", "badges");
  const bob = await openAs(b, base, "bob", "badges");  // opening a room joins it
  await bob.goto(`${base}/#elsewhere`);
  await bob.waitForSelector('#conn[data-state="connected"]');
  await bob.waitForSelector('#rooms li[data-room="badges"]');
  await say(alice, "is anyone here?");
  await say(alice, "@bob have a look");
  await waitCount(bob, "badges", "2");
  assert.equal(await entry(bob, "badges").locator(".mentions").textContent(), "@1");
  assert.ok(await entry(bob, "badges").evaluate((e) => e.classList.contains("unread")), "bold while unread");
  assert.match(await bob.title(), /^\(2\) /);
  assert.equal(await alice.locator('#rooms li[data-room="badges"] .count').count(), 0, "one's own messages are read");
  await bob.screenshot({ path: join(SHOTS, "unread-badges.png") });
  // Opening the room shows a "new messages" line and reads them.
  await entry(bob, "badges").click();
  await waitForText(bob, "@bob have a look");
  await bob.waitForSelector("#messages li.unread-line");
  await waitCount(bob, "badges", null);
  assert.equal(await entry(bob, "badges").locator(".mentions").count(), 0);
  assert.doesNotMatch(await bob.title(), /^\(/);
  // Seen by: alice's last message was read by bob.
  await alice.waitForFunction(() => document.querySelector("#messages li.seen")?.textContent === "Seen by bob");
  // Leave from the list, after a confirmation: dismissed, nothing happens; accepted, it goes.
  let asked = 0;
  bob.on("dialog", (d) => { asked++; asked === 1 ? d.dismiss() : d.accept(); });
  await bob.locator('#rooms li[data-room="badges"] .leave').click();
  assert.equal(asked, 1);
  assert.equal(await bob.locator('#rooms li[data-room="badges"]').count(), 1, "a dismissed leave keeps the room");
  await bob.locator('#rooms li[data-room="badges"] .leave').click();
  await bob.waitForFunction(() => !document.querySelector('#rooms li[data-room="badges"]'));
  await a.close();
  await b.close();
});

test("a read marker moves on one device and the badge clears on the other", async () => {
  const one = await browser.newContext(), two = await browser.newContext();
  const phone = await openAs(one, base, "dana", "sync-home");
  const laptop = await openAs(two, base, "dana", "sync-home");
  // Both devices are in sync-news (joined on one, the other hears `joined`).
  await phone.goto(`${base}/#sync-news`);
  await phone.waitForSelector('#conn[data-state="connected"]');
  await phone.goto(`${base}/#sync-home`);
  await phone.waitForSelector('#conn[data-state="connected"]');
  await laptop.waitForSelector('#rooms li[data-room="sync-news"]');
  await publish(base, "sync-news", "erin", "news one");
  await publish(base, "sync-news", "erin", "news two");
  await waitCount(phone, "sync-news", "2");
  await waitCount(laptop, "sync-news", "2");
  await entry(phone, "sync-news").click();
  await waitForText(phone, "news two");
  await waitCount(laptop, "sync-news", null);
  await one.close();
  await two.close();
});

test("typing shows, and goes when it lapses", async () => {
  const ctx = await browser.newContext();
  const page = await openAs(ctx, base, "fay", "typing-lapse");
  // Opening the room joins it; the user stream carries the room once the join is stored.
  await page.waitForSelector('#rooms li[data-room="typing-lapse"]');
  const r = await fetch(`${base}/rooms/typing-lapse/typing?id=gus`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: '{"typing":true}',
  });
  assert.equal(r.status, 204);
  await page.waitForFunction(() => document.getElementById("typing").textContent === "gus is typing…");
  const shown = Date.now();
  await page.waitForFunction(() => document.getElementById("typing").textContent === "", null, { timeout: 10000 });
  assert.ok(Date.now() - shown >= 4000, "it lapses after about six seconds, not at once");
  await ctx.close();
});

test("a reload resumes: every message once, in order", async () => {
  const ctx = await browser.newContext();
  const page = await openAs(ctx, base, "hal", "reload");
  for (const t of ["r1", "r2", "r3"]) await publish(base, "reload", "ivy", t);
  await waitForText(page, "r3");
  await page.reload();
  await page.waitForSelector('#conn[data-state="connected"]');
  await waitForText(page, "r3");
  await publish(base, "reload", "ivy", "r4");
  await say(page, "r5");
  await waitForText(page, "r4");
  await page.waitForFunction(() => [...document.querySelectorAll("#messages li.msg:not(.pending) .text")]
    .some((e) => e.textContent === "r5"));
  await page.waitForTimeout(500);
  assert.deepEqual(await texts(page), ["r1", "r2", "r3", "r4", "r5"]);
  assert.equal(await page.locator("#rooms li[data-room='reload']").count(), 1);
  await ctx.close();
});

test("a mention while the page is hidden shows a desktop notification (after permission)", async () => {
  const ctx = await browser.newContext();
  // A Notification that records what it was asked to show, already allowed, and a page that
  // says it is hidden (headless pages are always visible otherwise).
  await ctx.addInitScript(() => {
    window.shown = [];
    window.Notification = class {
      static permission = "granted";
      static requestPermission() { return Promise.resolve("granted"); }
      constructor(title, opts) { window.shown.push({ title, body: opts.body }); }
      close() {}
    };
  });
  const page = await openAs(ctx, base, "kim", "notify-home");
  await page.goto(`${base}/#notify-news`);
  await page.waitForSelector('#conn[data-state="connected"]');
  await page.goto(`${base}/#notify-home`);
  await page.waitForSelector('#rooms li[data-room="notify-news"]');
  await publish(base, "notify-news", "lee", "no mention while visible @kimberly");
  await publish(base, "notify-news", "lee", "@kim visible, so no notification");
  await waitCount(page, "notify-news", "2");
  await page.evaluate(() => Object.defineProperty(document, "hidden", { value: true, configurable: true }));
  await publish(base, "notify-news", "lee", "hidden: @kim look");
  await publish(base, "notify-news", "lee", "hidden but not for kim");
  await waitCount(page, "notify-news", "4");
  const shown = await page.evaluate(() => window.shown);
  assert.deepEqual(shown, [{ title: "lee in #notify-news", body: "hidden: @kim look" }]);
  await ctx.close();
});
