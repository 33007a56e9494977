// Browser tests of who may see what: alice makes a private room and adds bob, carol cannot
// see it, bob is removed and the room leaves his sidebar with a notice saying who did it, and
// a direct message opens from the name menu. Everyone signs in with a token.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { FLAGS, startServer, stopServer, runBinary, failOnPageErrors, say, waitForText } from "./lib.mjs";

const SHOTS = process.env.SCREENSHOT_DIR || "screenshots";
const SECRET = "rooms-browser-secret";
let server = null, base = "", browser = null;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer(0, ["--store", "memory", "--publish-rate", "0", "--jwt-secret", SECRET]);
  base = `http://127.0.0.1:${server.port}`;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await stopServer(server);
});

// A signed-in page of `user` at #hash (the token goes in through #token=, which the page takes
// out of the URL and keeps).
async function signIn(user, hash) {
  const token = await runBinary(["token", "--sub", user, "--secret", SECRET, "--ttl", "1h"]);
  const context = await browser.newContext();
  const page = await context.newPage();
  failOnPageErrors(page, user);
  await page.goto(`${base}/#${hash}&token=${encodeURIComponent(token)}`);
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 20000 });
  if (!(await page.evaluate(() => location.hash)).startsWith("#" + hash)) await page.goto(`${base}/#${hash}`);
  return { page, context, token };
}

test("a private room is its members' alone; removal takes it out of the sidebar and says who", async () => {
  const alice = await signIn("alice", "lobby");
  await alice.page.click("#new-room summary");
  await alice.page.fill("#new-room-name", "Plans");
  await alice.page.fill("#new-room-topic", "Q3 launch");
  await alice.page.check('#new-room-form input[value="private"]');
  await alice.page.click('#new-room-form button[type="submit"]');
  await alice.page.waitForFunction(() => document.querySelector("#title").textContent === "🔒 Plans");
  assert.equal(await alice.page.textContent("#topic"), "Q3 launch");
  const room = (await alice.page.evaluate(() => location.hash)).slice(1);
  assert.match(room, /^[A-Za-z0-9_-]{22}$/);
  await alice.page.waitForSelector(`#private-rooms li[data-room="${room}"]`);
  assert.equal(await alice.page.isVisible("#private-h"), true);
  await say(alice.page, "the plan is secret");
  await waitForText(alice.page, "the plan is secret");

  // bob is added from the members panel, and the room appears in his sidebar at once.
  const bob = await signIn("bob", "lobby");
  await alice.page.click("#members-btn");
  await alice.page.waitForSelector("#invite-form:not([hidden])");
  await alice.page.fill("#invite", "bob");
  await alice.page.press("#invite", "Enter");
  await alice.page.waitForSelector('#members li[data-user="bob"]');
  await alice.page.waitForFunction(() => [...document.querySelectorAll("#messages li.rules")]
    .some((e) => e.textContent === "alice added bob"));
  await bob.page.waitForSelector(`#private-rooms li[data-room="${room}"]`);
  await bob.page.click(`#private-rooms li[data-room="${room}"] a`);
  await waitForText(bob.page, "the plan is secret");
  // Opened after the fact, the room's history shows the change in its place.
  await bob.page.waitForFunction(() => [...document.querySelectorAll("#messages li.rules")]
    .some((e) => e.textContent === "alice added bob"));
  await alice.page.screenshot({ path: join(SHOTS, "private-room-members.png") });

  // carol sees nothing of it: not listed, and opening it by id answers what a missing room does.
  const carol = await signIn("carol", "lobby");
  assert.equal(await carol.page.locator(`li[data-room="${room}"]`).count(), 0);
  await carol.page.goto(`${base}/#${room}`);
  await carol.page.waitForFunction(() => [...document.querySelectorAll("#messages li.notice")]
    .some((e) => e.textContent.includes("no such room")));
  assert.equal(await carol.page.locator("#messages li.msg").count(), 0);

  // alice removes bob: his sidebar loses the room and a notice says who did it.
  await alice.page.click('#members li[data-user="bob"] .kick');
  await bob.page.waitForFunction((r) => !document.querySelector(`li[data-room="${r}"]`), room);
  await bob.page.waitForFunction(() => [...document.querySelectorAll("#messages li.notice")]
    .some((e) => e.textContent === "You were removed from 🔒 Plans by alice"));
  await bob.page.screenshot({ path: join(SHOTS, "removed-notice.png") });
  for (const p of [alice, bob, carol]) await p.context.close();
});

test("a direct message opens in one click from a name, the same room whoever starts it", async () => {
  const dora = await signIn("dora", "hall");
  const erin = await signIn("erin", "hall");
  await say(erin.page, "hi all");
  await waitForText(dora.page, "hi all");
  await dora.page.click('#messages li.msg[data-user="erin"] .author');
  await dora.page.waitForSelector("#name-menu:not([hidden])");
  assert.equal(await dora.page.textContent("#name-menu-dm"), "Message erin");
  await dora.page.click("#name-menu-dm");
  await dora.page.waitForFunction(() => document.querySelector("#title").textContent === "@ erin");
  const dm = (await dora.page.evaluate(() => location.hash)).slice(1);
  assert.match(dm, /^dm\./);
  await dora.page.waitForSelector(`#dms li[data-room="${dm}"]`);
  await say(dora.page, "psst, erin");
  await waitForText(dora.page, "psst, erin");
  // erin has it too, under dora's name, with the message.
  await erin.page.waitForSelector(`#dms li[data-room="${dm}"]`);
  assert.equal(await erin.page.textContent(`#dms li[data-room="${dm}"] .name`), "@ dora");
  await erin.page.click(`#dms li[data-room="${dm}"] a`);
  await waitForText(erin.page, "psst, erin");
  await dora.page.screenshot({ path: join(SHOTS, "direct-message.png") });
  for (const p of [dora, erin]) await p.context.close();
});
