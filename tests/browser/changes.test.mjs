// Browser tests of messages that change: two users in two browser contexts edit, delete,
// react and reply, and a moderator deletes someone else's message; and who is typing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { FLAGS, startServer, stopServer, openAs, say, waitForText } from "./lib.mjs";

const SHOTS = process.env.SCREENSHOT_DIR || "screenshots";
let server = null, base = "", browser = null;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer(0, ["--store", "memory", "--publish-rate", "0", "--moderators", "mona"]);
  base = `http://127.0.0.1:${server.port}`;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await stopServer(server);
});

// The shown message whose text is `text`, as a locator.
const msg = (page, text) => page.locator("#messages li.msg", { has: page.locator(".text", { hasText: text }) });

async function pair(room) {
  const a = await browser.newContext(), b = await browser.newContext();
  const alice = await openAs(a, base, "alice", room);
  const bob = await openAs(b, base, "bob", room);
  return { alice, bob, close: async () => { await a.close(); await b.close(); } };
}

test("an edit shows on both pages with an (edited) mark; arrow-up edits, Escape cancels", async () => {
  const { alice, bob, close } = await pair("edits");
  await say(alice, "teh first draft");
  await waitForText(bob, "teh first draft");
  await msg(alice, "teh first draft").hover();
  await msg(alice, "teh first draft").locator(".act.edit").click();
  assert.equal(await alice.inputValue("#text"), "teh first draft");
  await alice.fill("#text", "the first draft");
  await alice.press("#text", "Enter");
  await waitForText(bob, "the first draft");
  await bob.waitForSelector("#messages li.msg .edited");
  assert.equal(await msg(bob, "the first draft").locator(".edited").textContent(), "(edited)");
  assert.equal(await bob.locator("#messages li.msg .act.edit").count(), 0, "bob cannot edit alice's message");

  // Arrow-up in an empty box edits the last own message; Escape leaves it as it was.
  await alice.focus("#text");
  await alice.press("#text", "ArrowUp");
  assert.equal(await alice.inputValue("#text"), "the first draft");
  assert.ok(await alice.isVisible("#composer-context"));
  await alice.fill("#text", "never sent");
  await alice.press("#text", "Escape");
  assert.equal(await alice.inputValue("#text"), "");
  assert.ok(!(await alice.isVisible("#composer-context")));
  await bob.waitForTimeout(300);
  assert.equal(await msg(bob, "never sent").count(), 0);
  await alice.screenshot({ path: join(SHOTS, "edited.png") });
  await close();
});

test("a delete asks first, then leaves a tombstone on both pages", async () => {
  const { alice, bob, close } = await pair("deletes");
  await say(alice, "regrettable words");
  await waitForText(bob, "regrettable words");
  let asked = 0;
  alice.on("dialog", (d) => { asked++; asked === 1 ? d.dismiss() : d.accept(); });
  await msg(alice, "regrettable words").hover();
  await msg(alice, "regrettable words").locator(".act.delete").click();
  await alice.waitForTimeout(200);
  assert.equal(await msg(bob, "regrettable words").count(), 1, "dismissed: nothing deleted");
  await msg(alice, "regrettable words").locator(".act.delete").click();
  await bob.waitForSelector("#messages li.msg.deleted");
  assert.equal(await bob.locator("#messages li.msg.deleted .text").textContent(), "message deleted");
  assert.equal(await bob.locator("#messages").textContent().then((t) => t.includes("regrettable")), false);
  assert.equal(asked, 2);
  await close();
});

test("reactions show counts and who reacted, from the picker or any emoji typed", async () => {
  const { alice, bob, close } = await pair("reactions");
  await say(alice, "pizza tonight?");
  await waitForText(bob, "pizza tonight?");
  await msg(bob, "pizza tonight?").hover();
  await msg(bob, "pizza tonight?").locator(".act.react").click();
  await bob.locator("#picker .pick", { hasText: "👍" }).click();
  const chip = msg(alice, "pizza tonight?").locator(".chip");
  await chip.waitFor();
  assert.equal(await chip.textContent(), "👍 1");
  assert.match(await chip.getAttribute("title"), /bob reacted with 👍/);
  assert.equal(await chip.getAttribute("aria-pressed"), "false");
  // Alice adds hers by clicking the chip; then any emoji, typed.
  await chip.click();
  await msg(bob, "pizza tonight?").locator(".chip", { hasText: "👍 2" }).waitFor();
  await msg(alice, "pizza tonight?").hover();
  await msg(alice, "pizza tonight?").locator(".act.react").click();
  await alice.fill("#picker input", "🍕");
  await alice.press("#picker input", "Enter");
  await msg(bob, "pizza tonight?").locator(".chip", { hasText: "🍕 1" }).waitFor();
  // Bob takes his back.
  await msg(bob, "pizza tonight?").locator(".chip", { hasText: "👍 2" }).click();
  await msg(alice, "pizza tonight?").locator(".chip", { hasText: "👍 1" }).waitFor();
  // A reload shows the same, from history.
  await bob.reload();
  await bob.waitForSelector('#conn[data-state="connected"]');
  await msg(bob, "pizza tonight?").locator(".chip", { hasText: "🍕 1" }).waitFor();
  assert.equal(await msg(bob, "pizza tonight?").locator(".chip").count(), 2);
  await alice.screenshot({ path: join(SHOTS, "reactions.png") });
  await close();
});

test("a reply quotes its original, and the quote leads back to it", async () => {
  const { alice, bob, close } = await pair("replies");
  await say(alice, "who brings the drinks?");
  for (let i = 0; i < 25; i++) await say(alice, `filler ${i}`);
  await waitForText(bob, "filler 24");
  await msg(bob, "who brings the drinks?").hover();
  await msg(bob, "who brings the drinks?").locator(".act.reply").click();
  assert.match(await bob.textContent("#composer-context-text"), /Replying to alice: who brings the drinks\?/);
  await say(bob, "I will");
  await waitForText(alice, "I will");
  const quote = msg(alice, "I will").locator(".quote");
  assert.match(await quote.textContent(), /alice: who brings the drinks\?/);
  await quote.click();
  await alice.waitForSelector("#messages li.msg.flash");
  // The original scrolls into view (smoothly, so it is waited for).
  await alice.waitForFunction(() => {
    const li = document.querySelector("#messages li.msg.flash");
    const r = li.getBoundingClientRect(), log = document.getElementById("log").getBoundingClientRect();
    return r.top >= log.top && r.bottom <= log.bottom;
  }, null, { timeout: 5000 });
  await close();
});

test("a moderator sees delete on everyone's messages; others only on their own", async () => {
  const a = await browser.newContext(), m = await browser.newContext();
  const alice = await openAs(a, base, "alice", "moderated");
  const mona = await openAs(m, base, "mona", "moderated");
  await say(alice, "spam spam spam");
  await waitForText(mona, "spam spam spam");
  await say(mona, "please stop");
  await waitForText(alice, "please stop");
  assert.equal(await msg(alice, "please stop").locator(".act.delete").count(), 0);
  mona.on("dialog", (d) => d.accept());
  await msg(mona, "spam spam spam").hover();
  await msg(mona, "spam spam spam").locator(".act.delete").click();
  await alice.waitForSelector("#messages li.msg.deleted");
  await a.close();
  await m.close();
});

test("who is typing shows under the messages, and goes when they send", async () => {
  const { alice, bob, close } = await pair("typing");
  await alice.type("#text", "hello th");
  await bob.waitForFunction(() => document.getElementById("typing").textContent === "alice is typing…");
  assert.equal(await alice.textContent("#typing"), "", "one's own typing is not shown");
  await alice.type("#text", "ere");
  await alice.press("#text", "Enter");
  await waitForText(bob, "hello there");
  await bob.waitForFunction(() => document.getElementById("typing").textContent === "", null, { timeout: 6000 });
  await close();
});
