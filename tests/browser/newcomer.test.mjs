// The chat page as a newcomer meets it: choosing a name, signing in with a token, reading,
// typing, sending, and the small things (favicon, dark theme, labels). Run by CTest.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { chromium } from "playwright-core";
import { BINARY, FLAGS, startServer, stopServer, runBinary, failOnPageErrors, openAs, say,
  waitForText, publish } from "./lib.mjs";

let anon = null, tok = null, browser = null, base = "", tbase = "";
const SECRET = "newcomer-secret";

before(async () => {
  assert.ok(BINARY, "SSECHAT_BINARY must name the server binary");
  anon = await startServer(0, ["--store", "memory", "--publish-rate", "0", "--retry", "300"]);
  tok = await startServer(0, ["--store", "memory", "--publish-rate", "0", "--jwt-secret", SECRET]);
  base = `http://127.0.0.1:${anon.port}`;
  tbase = `http://127.0.0.1:${tok.port}`;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
});

after(async () => {
  if (browser) await browser.close();
  for (const s of [anon, tok]) if (s) await stopServer(s);
});

const onlineOf = (page) => page.$eval("#online", (el) => el.textContent);
const notices = (page) => page.$$eval("#messages li.notice", (els) => els.map((e) => e.textContent));

test("the name is asked first, and nobody joins as a guest", async () => {
  const a = await browser.newContext(), b = await browser.newContext();
  const alice = await openAs(a, base, "alice", "welcome");
  const page = await b.newPage();
  failOnPageErrors(page, "newcomer");
  await page.goto(`${base}/#welcome`);
  await page.waitForSelector("#gate-name:not([hidden])");
  assert.equal(await page.evaluate(() => document.activeElement.id), "gate-name-input");
  await page.waitForTimeout(500);
  assert.doesNotMatch(await onlineOf(alice), /guest/);
  await page.fill("#gate-name-input", "newbie");
  await page.press("#gate-name-input", "Enter");
  await page.waitForSelector('#conn[data-state="connected"]');
  assert.equal(await page.evaluate(() => document.activeElement.id), "text");
  await alice.waitForFunction(() => document.querySelector("#online").textContent.includes("newbie"));
  assert.deepEqual((await notices(alice)).filter((n) => /joined/.test(n)), ["newbie joined"]);
  assert.doesNotMatch((await notices(alice)).join(), /guest/);
  await a.close();
  await b.close();
});

test("a rename reaches every tab of the browser", async () => {
  const watcher = await browser.newContext(), ctx = await browser.newContext();
  const w = await openAs(watcher, base, "watcher", "renames");
  const tab1 = await openAs(ctx, base, "oldname", "renames");
  const tab2 = await ctx.newPage();
  failOnPageErrors(tab2, "tab2");
  await tab2.goto(`${base}/#renames`);
  await tab2.waitForSelector('#conn[data-state="connected"]');
  await tab1.fill("#name", "newname");
  await tab1.$eval("#name", (el) => el.dispatchEvent(new Event("change")));
  await tab2.waitForFunction(() => document.querySelector("#name").value === "newname");
  await tab2.waitForFunction(() => document.querySelector("#online").textContent.includes("newname (you)"));
  await say(tab2, "said after the rename");
  await waitForText(w, "said after the rename");
  const author = await w.$$eval("#messages li.msg", (els) =>
    els.filter((e) => e.querySelector(".text").textContent === "said after the rename")
      .map((e) => e.dataset.user));
  assert.deepEqual(author, ["newname"]);
  await w.waitForFunction(() => !document.querySelector("#online").textContent.includes("oldname"),
    null, { timeout: 10000 });
  await watcher.close();
  await ctx.close();
});

// An HS256 token signed here, so that one can be expired already.
function sign(sub, exp) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const part = b64({ alg: "HS256", typ: "JWT" }) + "." + b64({ sub, exp });
  return part + "." + createHmac("sha256", SECRET).update(part).digest("base64url");
}

test("token mode: sign in by pasting, by #token= or by cookie; an expired token says so", async () => {
  const alice = await runBinary(["token", "--sub", "alice", "--secret", SECRET, "--ttl", "1h"]);
  // Pasted once, then kept.
  const a = await browser.newContext();
  const page = await a.newPage();
  failOnPageErrors(page, "token page");
  await page.goto(`${tbase}/#lobby`);
  await page.waitForSelector("#gate-token:not([hidden])");
  await page.fill("#gate-token-input", alice);
  await page.click("#gate-token button");
  await page.waitForSelector('#conn[data-state="connected"]');
  assert.equal(await page.$eval("#signed-in-user", (e) => e.textContent), "alice");
  assert.equal(await page.isVisible("#name-form"), false);
  await say(page, "hello with a token");
  await waitForText(page, "hello with a token");
  await page.reload();
  await page.waitForSelector('#conn[data-state="connected"]');
  assert.equal(await page.$eval("#signed-in-user", (e) => e.textContent), "alice");
  await a.close();
  // From the URL: used, then taken out of it.
  const bob = await runBinary(["token", "--sub", "bob", "--secret", SECRET]);
  const b = await browser.newContext();
  const pb = await b.newPage();
  failOnPageErrors(pb, "url token");
  await pb.goto(`${tbase}/#lobby&token=${bob}`);
  await pb.waitForSelector('#conn[data-state="connected"]');
  assert.equal(await pb.$eval("#signed-in-user", (e) => e.textContent), "bob");
  assert.doesNotMatch(pb.url(), /token=/);
  await waitForText(pb, "hello with a token");
  await b.close();
  // From the cookie an application set at its own login.
  const carol = await runBinary(["token", "--sub", "carol", "--secret", SECRET]);
  const c = await browser.newContext();
  await c.addCookies([{ name: "ssechat_token", value: carol, url: tbase }]);
  const pc = await c.newPage();
  failOnPageErrors(pc, "cookie token");
  await pc.goto(`${tbase}/#lobby`);
  await pc.waitForSelector('#conn[data-state="connected"]');
  assert.equal(await pc.$eval("#signed-in-user", (e) => e.textContent), "carol");
  await c.close();
  // Expired: a clear message and a way forward, not "offline" forever.
  const d = await browser.newContext();
  const pd = await d.newPage();
  failOnPageErrors(pd, "expired token");
  await pd.goto(`${tbase}/#lobby&token=${sign("dave", Math.floor(Date.now() / 1000) - 3600)}`);
  await pd.waitForSelector("#gate-token:not([hidden])");
  assert.match(await pd.$eval("#gate-token-why", (e) => e.textContent), /expired/);
  await d.close();
});

test("notices keep time order; messages group by author; bubbles for everyone", async () => {
  const a = await browser.newContext(), b = await browser.newContext();
  const alice = await openAs(a, base, "alice", "order");
  const bob = await openAs(b, base, "bob", "order");
  await alice.waitForFunction(() => [...document.querySelectorAll("#messages li.notice")]
    .some((e) => e.textContent === "bob joined"));
  await say(bob, "b1");
  await waitForText(alice, "b1");
  // One after the other, each stored before the next: sends in flight at once travel on
  // separate connections, and the server may store them in either order.
  for (const t of ["a1", "a2", "a3"]) {
    await say(alice, t);
    await alice.waitForFunction((x) => [...document.querySelectorAll("#messages li.msg:not(.pending)")]
      .some((e) => e.querySelector(".text")?.textContent === x), t);
  }
  const rows = await alice.$$eval("#messages li", (els) => els.map((e) =>
    (e.classList.contains("notice") ? "notice:" : e.classList.contains("day") ? "day:" : "msg:") +
    (e.querySelector(".text")?.textContent ?? e.textContent) +
    (e.classList.contains("cont") ? "+" : "")));
  // A day separator opens the day's messages.
  assert.deepEqual(rows, ["notice:bob joined", "day:Today", "msg:b1", "msg:a1", "msg:a2+", "msg:a3+"]);
  const bg = await alice.$eval('#messages li.msg[data-user="bob"]', (e) => getComputedStyle(e).backgroundColor);
  assert.notEqual(bg, "rgba(0, 0, 0, 0)", "other people's messages get a bubble too");
  await say(bob, "long ".repeat(200));
  await alice.waitForFunction(() => document.querySelectorAll('#messages li.msg[data-user="bob"]').length === 2);
  const [bubble, log] = await alice.evaluate(() => [
    document.querySelectorAll('#messages li.msg[data-user="bob"]')[1].getBoundingClientRect().width,
    document.querySelector("#log").clientWidth]);
  assert.ok(bubble <= log * 0.76, `a bubble ${bubble}px wide in a ${log}px log`);
  await a.close();
  await b.close();
});

test("the composer grows, fits a phone, keeps focus, and explains room names", async () => {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true });
  const page = await openAs(ctx, base, "typist", "typing");
  assert.equal(await page.evaluate(() => document.activeElement.id), "text");
  const h = () => page.$eval("#text", (e) => e.getBoundingClientRect().height);
  const one = await h();
  await page.fill("#text", "1\n2\n3\n4");
  await page.$eval("#text", (e) => e.dispatchEvent(new Event("input")));
  const four = await h();
  assert.ok(four > one * 2, `4 lines: ${four}px, 1 line: ${one}px`);
  await page.fill("#text", Array.from({ length: 30 }, (_, i) => String(i)).join("\n"));
  await page.$eval("#text", (e) => e.dispatchEvent(new Event("input")));
  const many = await h();
  const line = await page.$eval("#text", (e) => parseFloat(getComputedStyle(e).lineHeight));
  assert.ok(many <= line * 8 + 40 && many > four, `30 lines: ${many}px (a line is ${line}px)`);
  // The placeholder fits in the box on a 360 px screen.
  const fits = await page.$eval("#text", (e) => {
    const c = document.createElement("canvas").getContext("2d");
    const s = getComputedStyle(e);
    c.font = `${s.fontSize} ${s.fontFamily}`;
    return c.measureText(e.placeholder).width <= e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
  });
  assert.ok(fits, "the placeholder is cut off");
  await page.fill("#text", "");
  // Switching rooms puts the cursor back in the composer.
  await page.click("#menu");
  await page.fill("#join", "bad name!");
  await page.click("#join-form button");
  assert.match(await page.$eval("#join-error", (e) => e.textContent), /1 to 64/);
  assert.equal(await page.isVisible("#join-error"), true);
  await page.fill("#join", "elsewhere");
  await page.click("#join-form button");
  await page.waitForFunction(() => document.querySelector("#title").textContent === "# elsewhere");
  assert.equal(await page.evaluate(() => document.activeElement.id), "text");
  await ctx.close();
});

test("a send with no answer turns into Retry after 10 s", async () => {
  const ctx = await browser.newContext();
  const page = await openAs(ctx, base, "patient", "slow");
  let hold = true;
  const keys = [];
  await page.route("**/rooms/slow/messages**", (route) => {
    if (route.request().method() === "POST") keys.push(route.request().headers()["idempotency-key"]);
    if (route.request().method() === "POST" && hold) return;  // never answered
    return route.continue();
  });
  await say(page, "will it arrive");
  await page.waitForSelector("#messages li.pending");
  await page.waitForSelector("#messages li.failed .retry", { timeout: 15000 });
  assert.match(await page.$eval("#messages li.failed .error", (e) => e.textContent), /10 s/);
  hold = false;
  await page.click("#messages li.failed .retry");
  await waitForText(page, "will it arrive");
  await page.waitForFunction(() => !document.querySelector("#messages li.failed, #messages li.pending"));
  // The retry is the same send: it carries the same Idempotency-Key, so had the first one been
  // stored after all, the server would answer with it instead of storing it again.
  assert.equal(keys.length, 2);
  assert.ok(keys[0] && keys[0] === keys[1], `keys: ${keys.join(" / ")}`);
  await ctx.close();
});

test("favicon, dark theme, skip link, labelled controls, and 'N online'", async () => {
  const icon = await fetch(`${base}/favicon.svg`);
  assert.equal(icon.status, 200);
  assert.match(icon.headers.get("content-type"), /^image\/svg\+xml/);
  const ctx = await browser.newContext({ colorScheme: "dark" });
  await ctx.addInitScript(() => localStorage.setItem("ssechat.name", "night-owl"));
  const page = await ctx.newPage();
  failOnPageErrors(page, "night-owl");
  const missing = [];
  page.on("response", (r) => { if (r.status() === 404) missing.push(r.url()); });
  await page.goto(`${base}/#lobby`);
  await page.waitForSelector('#conn[data-state="connected"]');
  await publish(base, "lobby", "someone", "so that lobby is listed");
  await page.waitForFunction(() => [...document.querySelectorAll("#rooms .badge")]
    .some((b) => /^\d+ online$/.test(b.textContent)), null, { timeout: 15000 });
  assert.deepEqual(missing, []);
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = bg.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 150, `dark theme background is ${bg}`);
  // The skip link is the first stop of the keyboard, shows when focused, and leads to the box.
  const first = await page.evaluate(() => document.querySelector("a[href], button, input, textarea").id);
  assert.equal(first, "skip");
  await page.focus("#skip");
  assert.ok(await page.$eval("#skip", (e) => e.getBoundingClientRect().top >= 0), "hidden when focused");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement.id), "text");
  assert.match(page.url(), /#lobby$/);
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll("input, textarea, button, select")]
    .filter((e) => !e.closest("[hidden]"))
    .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.textContent.trim())
    .map((e) => e.id || e.outerHTML.slice(0, 60)));
  assert.deepEqual(unlabelled, []);
  await page.screenshot({ path: (process.env.SCREENSHOT_DIR || "screenshots") + "/dark.png" });
  await ctx.close();
});

test("a send whose answer was lost shows once and is stored once", async () => {
  const ctx = await browser.newContext();
  const page = await openAs(ctx, base, "unlucky", "lost-answers");
  await page.route("**/rooms/lost-answers/messages**", async (route) => {
    if (route.request().method() !== "POST") return route.continue();
    // The server stores the message, and its answer never reaches the page.
    await route.fetch();
    return route.abort("connectionreset");
  });
  await say(page, "exactly once");
  await waitForText(page, "exactly once");
  // Whichever comes first, the lost answer or the message on the stream, the page settles on
  // the one stored message.
  await page.waitForFunction(() => !document.querySelector("#messages li.failed, #messages li.pending"));
  await page.waitForTimeout(500);
  const shown = await page.$$eval("#messages li.msg .text", (els) => els.map((e) => e.textContent));
  assert.deepEqual(shown, ["exactly once"]);
  const history = await (await fetch(`${base}/rooms/lost-answers/messages`)).json();
  assert.deepEqual(history.messages.map((m) => m.message), ["exactly once"]);
  await ctx.close();
});
