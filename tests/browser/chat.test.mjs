// Browser tests: Debian's chromium, driven by playwright-core, against the real ssechat binary.
// Run by CTest with SSECHAT_BINARY and SCREENSHOT_DIR set.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { chromium } from "playwright-core";
import { BINARY as BIN, FLAGS, startServer as start, stopServer as stop, openAs as open, say,
  texts, waitForText, publish as post } from "./lib.mjs";

const BINARY = BIN;
const SHOTS = process.env.SCREENSHOT_DIR || "screenshots";
const dataDir = mkdtempSync(join(tmpdir(), "ssechat-browser-"));
let server = null, port = 0, base = "", browser = null;

const startServer = (p) => start(p, ["--data", dataDir, "--publish-rate", "0", "--retry", "300",
  "--heartbeat", "2"]);
const stopServer = () => stop(server);
const publish = (room, user, message) => post(base, room, user, message);
const openAs = (context, name, hash, viewport) => open(context, base, name, hash, viewport);

before(async () => {
  assert.ok(BINARY, "SSECHAT_BINARY must name the server binary");
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer(0);
  port = server.port;
  base = `http://127.0.0.1:${port}`;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await stopServer();
  rmSync(dataDir, { recursive: true, force: true });
});

test("the page is served from the binary with caching headers", async () => {
  const r = await fetch(`${base}/`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /^text\/html/);
  const etag = r.headers.get("etag");
  assert.ok(etag);
  const again = await fetch(`${base}/`, { headers: { "If-None-Match": etag } });
  assert.equal(again.status, 304);
  const js = await fetch(`${base}/app.js`);
  assert.match(js.headers.get("content-type"), /^text\/javascript/);
  assert.equal((await fetch(`${base}/nope.js`)).status, 404);
});

test("two users chat both ways, see each other online, and XSS stays text", async () => {
  const a = await browser.newContext(), b = await browser.newContext();
  const alice = await openAs(a, "alice", "lobby");
  const bob = await openAs(b, "bob", "lobby");
  await say(alice, "hello from alice");
  await waitForText(bob, "hello from alice");
  await say(bob, "hi alice, bob here");
  await waitForText(alice, "hi alice, bob here");
  // Own messages are set apart.
  const mine = await alice.$$eval("#messages li.msg.mine .text", (els) => els.map((e) => e.textContent));
  assert.deepEqual(mine, ["hello from alice"]);
  // Presence: each sees both.
  await alice.waitForFunction(() => document.querySelector("#online").textContent.includes("bob"));
  const online = await bob.$eval("#online", (el) => el.textContent);
  assert.match(online, /alice/);
  assert.match(online, /bob \(you\)/);
  // An XSS payload is shown as text and never runs.
  const payload = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> https://example.test/x`;
  await say(alice, payload);
  await waitForText(bob, payload);
  assert.equal(await bob.evaluate(() => window.__xss), undefined);
  assert.equal(await bob.$$eval("#messages img, #messages script", (els) => els.length), 0);
  const link = await bob.$eval("#messages li:last-child a", (a) => a.href);
  assert.equal(link, "https://example.test/x");
  await alice.screenshot({ path: join(SHOTS, "desktop.png") });
  // The room list shows the room with its online count.
  await alice.waitForFunction(() => [...document.querySelectorAll("#rooms a")].some((a) => a.textContent.includes("lobby")));
  await a.close();
  await b.close();
});

test("messages are Markdown, built as elements; raw HTML and script links stay inert", async () => {
  const a = await browser.newContext();
  const bob = await openAs(a, "bob", "markdown");
  const cases = [
    ["**bold** _em_ ~~gone~~ `co de`", (el) => ({
      strong: el.querySelector("strong")?.textContent, em: el.querySelector("em")?.textContent,
      s: el.querySelector("s")?.textContent, code: el.querySelector("code")?.textContent })],
    ["```\n  keep   this\n\tand this\n```", (el) => ({
      pre: el.querySelector("pre > code")?.textContent,
      font: getComputedStyle(el.querySelector("pre > code")).fontFamily.includes("mono"),
      scroll: getComputedStyle(el.querySelector("pre")).overflowX })],
    ["[click](javascript:window.__xss=3) [data](data:text/html,<script>window.__xss=4</script>) [ok](https://example.test/ok)",
      (el) => ({ hrefs: [...el.querySelectorAll("a")].map((x) => x.getAttribute("href")),
        shown: el.textContent.startsWith("[click](javascript:") })],
    ["<b>raw</b> <img src=x onerror=\"window.__xss=5\"> ![pic](https://example.test/p.png)", (el) => ({
      b: el.querySelectorAll("b, img").length, text: el.textContent })],
    ["see https://example.test/auto and ping @bob, not @bobby or me@bob.test", (el) => ({
      link: el.querySelector("a")?.getAttribute("href"),
      me: [...el.querySelectorAll(".mention.me")].map((x) => x.textContent),
      others: [...el.querySelectorAll(".mention:not(.me)")].map((x) => x.textContent) })],
    ["> quoted\n\n- one\n- two\n\n1. first", (el) => ({
      quote: el.querySelector("blockquote")?.textContent.trim(),
      items: [...el.querySelectorAll("ul > li")].map((x) => x.textContent),
      ol: el.querySelectorAll("ol > li").length })],
  ];
  for (const [text] of cases) await publish("markdown", "alice", text);
  await bob.waitForFunction((n) => document.querySelectorAll("#messages li.msg .text").length >= n,
    cases.length);
  const got = [];
  for (let i = 0; i < cases.length; i++) {
    got.push(await bob.evaluate(([i, f]) => {
      const el = document.querySelectorAll("#messages li.msg .text")[i];
      return new Function("el", "return (" + f + ")(el)")(el);
    }, [i, cases[i][1].toString()]));
  }
  assert.deepEqual(got[0], { strong: "bold", em: "em", s: "gone", code: "co de" });
  assert.deepEqual(got[1], { pre: "  keep   this\n\tand this", font: true, scroll: "auto" });
  assert.deepEqual(got[2], { hrefs: ["https://example.test/ok"], shown: true },
    "a javascript: or data: link is no link, and shows as the text it was");
  assert.equal(got[3].b, 0);
  assert.match(got[3].text, /<b>raw<\/b> <img src=x onerror="window.__xss=5">/);
  assert.deepEqual(got[4], { link: "https://example.test/auto", me: ["@bob"], others: ["@bobby"] });
  assert.deepEqual(got[5], { quote: "quoted", items: ["one", "two"], ol: 1 });
  assert.equal(await bob.evaluate(() => window.__xss), undefined);
  await a.close();
});

test("a server restart mid-chat ends with every message shown exactly once", async () => {
  const a = await browser.newContext(), b = await browser.newContext();
  const alice = await openAs(a, "alice", "restart");
  const bob = await openAs(b, "bob", "restart");
  await say(alice, "before restart 1");
  await say(bob, "before restart 2");
  await waitForText(alice, "before restart 2");
  await waitForText(bob, "before restart 1");
  await stopServer();
  await alice.waitForSelector('#conn:not([data-state="connected"])', { timeout: 10000 });
  // Sent while the server is down: it fails, and goes again by itself after the reconnect.
  await say(alice, "sent while down");
  await alice.waitForSelector("#messages li.failed", { timeout: 15000 });
  server = await startServer(port);
  // While the pages reconnect, messages keep coming; Last-Event-ID brings them back.
  await publish("restart", "carol", "during reconnect");
  await alice.waitForSelector('#conn[data-state="connected"]', { timeout: 15000 });
  await bob.waitForSelector('#conn[data-state="connected"]', { timeout: 15000 });
  await say(bob, "after restart");
  const want = ["before restart 1", "before restart 2", "during reconnect", "sent while down",
    "after restart"];
  for (const page of [alice, bob]) {
    for (const t of want) await waitForText(page, t);
    const got = await texts(page);
    assert.deepEqual([...got].sort(), [...want].sort(), "each once: " + got.join(" | "));
    assert.deepEqual(got.slice(0, 2), want.slice(0, 2));
    assert.equal(await page.$$eval("#messages li.failed, #messages li.pending", (e) => e.length), 0);
  }
  // Both reconnected and joined again: each is announced to the other once, not twice.
  const joins = await bob.$$eval("#messages li.notice", (els) =>
    els.filter((e) => e.textContent === "alice joined").length);
  assert.ok(joins <= 1, `"alice joined" shown ${joins} times`);
  await a.close();
  await b.close();
});

test("scrolling up loads older history", async () => {
  for (let i = 1; i <= 120; i++) await publish("history", "bot", `old message ${i}`);
  const ctx = await browser.newContext();
  const page = await openAs(ctx, "reader", "history");
  await waitForText(page, "old message 120");
  assert.equal((await texts(page)).length, 50);
  for (let round = 0; round < 10 && (await texts(page)).length < 120; round++) {
    await page.$eval("#log", (el) => { el.scrollTop = 0; el.dispatchEvent(new Event("scroll")); });
    await page.waitForTimeout(300);
  }
  const all = await texts(page);
  assert.equal(all.length, 120);
  assert.deepEqual(all, Array.from({ length: 120 }, (_, i) => `old message ${i + 1}`));
  await ctx.close();
});

test("eight tabs of one user all stay live on one shared stream", async () => {
  const ctx = await browser.newContext();
  const tabs = [];
  for (let i = 0; i < 8; i++) tabs.push(await openAs(ctx, "tabby", "tabs"));
  await publish("tabs", "someone", "to every tab");
  for (const t of tabs) await waitForText(t, "to every tab");
  await say(tabs[3], "from tab four");
  for (const t of tabs) await waitForText(t, "from tab four");
  await ctx.close();
});

test("a phone-sized screen has no horizontal scroll, badges on its Rooms button, and actions on a tap", async () => {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const page = await openAs(ctx, "phone", "phone-other");
  await page.waitForSelector("#messages li.empty-room");
  assert.match(await page.$eval("#messages li.empty-room", (e) => e.textContent), /No messages .* yet/);
  await page.evaluate(() => { location.hash = "#lobby"; });
  await page.waitForFunction(() => document.getElementById("title").textContent.includes("lobby"));
  await publish("phone-other", "zed", "hey @phone, look");
  await page.waitForFunction(() => document.querySelector("#menu .mentions")?.textContent === "@1");
  assert.equal(await page.$eval("#menu .count", (e) => e.textContent), "1");
  assert.match(await page.$eval("#menu", (e) => e.getAttribute("aria-label")), /1 unread, 1 mentioning you/);
  await say(page, "typing on a phone with a long unbroken word: supercalifragilisticexpialidocious-and-then-some-more-text");
  await waitForText(page, "typing on a phone with a long unbroken word: supercalifragilisticexpialidocious-and-then-some-more-text");
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 360, `page is ${width}px wide`);
  await page.screenshot({ path: join(SHOTS, "phone.png") });
  // A tap on a message shows its actions, each at least 44 px.
  await page.tap("#messages li.msg.mine .text");
  const acts = await page.$$eval("#messages li.msg.show-actions .act", (els) =>
    els.map((b) => { const r = b.getBoundingClientRect(); return [r.width, r.height, getComputedStyle(b.parentNode).opacity]; }));
  assert.ok(acts.length >= 2, "actions shown");
  for (const [w, h, o] of acts) assert.ok(w >= 44 && h >= 44 && o === "1", `a ${w}x${h} target at opacity ${o}`);
  await ctx.close();
});

// A real PNG of w x h grey pixels: the server reads its size from the header, the browser
// decodes it.
function png(w, h) {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4), sum = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;  // bit depth; colour type 0 (grey), the rest 0
  const raw = Buffer.alloc((w + 1) * h, 0x80);
  for (let y = 0; y < h; y++) raw[y * (w + 1)] = 0;  // filter: none
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

test("files go up by button, paste and drop, show as previews of their size, and a 30 MB one is refused", async () => {
  const a = await browser.newContext(), b = await browser.newContext();
  const alice = await openAs(a, "alice", "files");
  const bob = await openAs(b, "bob", "files");
  await alice.setInputFiles("#file-input", { name: "wide.png", mimeType: "image/png", buffer: png(800, 400) });
  await alice.waitForFunction(() => !document.querySelector("#tray progress") && document.querySelector("#tray .tray-item"));
  // Paste and drop: the browser's own events, with files in their DataTransfer.
  await alice.evaluate((bytes) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], "pasted.png", { type: "image/png" }));
    const ev = new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true });
    document.getElementById("text").dispatchEvent(ev);
    const dt2 = new DataTransfer();
    dt2.items.add(new File(["plain notes"], "notes.txt", { type: "text/plain" }));
    document.querySelector("main.chat").dispatchEvent(new DragEvent("drop", { dataTransfer: dt2, bubbles: true, cancelable: true }));
  }, [...png(100, 50)]);
  await alice.waitForFunction(() => document.querySelectorAll("#tray .tray-item").length === 3 &&
    !document.querySelector("#tray progress"));
  await say(alice, "three files");
  await bob.waitForFunction(() => document.querySelectorAll("#messages li.msg .files .preview img").length === 2 &&
    document.querySelector("#messages li.msg .files .attachment"));
  const sizes = await bob.$$eval("#messages li.msg .files .preview img",
    (els) => els.map((i) => [Number(i.getAttribute("width")), Number(i.getAttribute("height"))]));
  assert.deepEqual(sizes, [[320, 160], [100, 50]], "space reserved from the server's width and height");
  const link = await bob.$eval("#messages li.msg .files .attachment", (a) => a.textContent);
  assert.match(link, /notes\.txt/);
  await bob.waitForFunction(() => [...document.querySelectorAll("#messages .preview img")].every((i) => i.complete && i.src));
  await publish("files", "carol", "**Markdown** works: `code`, ~~this~~, a [link](https://example.test) and @bob\n```\nfn main() {\n    println!(\"hi\");\n}\n```");
  await bob.waitForSelector("#messages pre code");
  await bob.screenshot({ path: join(SHOTS, "files.png") });
  // 30 MB: the server refuses it by its length, and the tray says so.
  await alice.setInputFiles("#file-input", { name: "huge.bin", mimeType: "application/octet-stream", buffer: Buffer.alloc(30 << 20) });
  await alice.waitForSelector("#tray .tray-item.failed", { timeout: 20000 });
  assert.match(await alice.$eval("#tray .tray-item.failed", (e) => e.textContent), /too large|413|larger/);
  await a.close();
  await b.close();
});

test("a search in the box finds a message and opens its room at it", async () => {
  for (let i = 0; i < 120; i++) await publish("archive", "carol", i === 3 ? "the lighthouse keeper's log" : `filler ${i}`);
  const a = await browser.newContext();
  const alice = await openAs(a, "alice", "archive");
  await alice.goto(`${base}/#lobby`);
  await alice.waitForSelector('#conn[data-state="connected"]');
  await alice.fill("#search", "lighthouse");
  await alice.press("#search", "Enter");
  await alice.waitForSelector("#search-results .result");
  assert.equal(await alice.$eval("#search-results .result mark", (m) => m.textContent), "lighthouse");
  await alice.screenshot({ path: join(SHOTS, "search.png") });
  await alice.click("#search-results .result");
  await alice.waitForFunction(() => location.hash === "#archive");
  await alice.waitForFunction(() => [...document.querySelectorAll("#messages li.msg .text")]
    .some((e) => e.textContent === "the lighthouse keeper's log"), null, { timeout: 15000 });
  const visible = await alice.evaluate(() => {
    const li = [...document.querySelectorAll("#messages li.msg")].find((l) => l.textContent.includes("lighthouse"));
    const r = li.getBoundingClientRect(), log = document.getElementById("log").getBoundingClientRect();
    return r.bottom > log.top && r.top < log.bottom;
  });
  assert.ok(visible, "the timeline is scrolled to the result");
  await a.close();
});

test("the composer counts bytes as the server does, and refuses rather than cuts", async () => {
  const a = await browser.newContext();
  const alice = await openAs(a, "alice", "bytes");
  const text = "я".repeat(2100);  // 4200 bytes in 2100 characters
  await alice.fill("#text", text);
  assert.equal(await alice.$eval("#count", (e) => e.textContent), "104 bytes too long");
  await alice.press("#text", "Enter");
  await alice.waitForFunction(() => [...document.querySelectorAll("#messages li.notice")].some((n) => n.textContent.includes("4200 bytes")));
  assert.equal(await alice.$eval("#text", (t) => t.value.length), 2100, "nothing cut, nothing cleared");
  // A paste past the limit is refused whole, with a word.
  await alice.fill("#text", "");
  await alice.evaluate(() => {
    const dt = new DataTransfer();
    dt.setData("text/plain", "x".repeat(5000));
    document.getElementById("text").dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  await alice.waitForFunction(() => [...document.querySelectorAll("#messages li.notice")].some((n) => n.textContent.startsWith("Not pasted")));
  assert.equal(await alice.$eval("#text", (t) => t.value), "");
  await alice.fill("#text", "🎉".repeat(900));  // 3600 bytes
  assert.equal(await alice.$eval("#count", (e) => e.textContent), "496 bytes left");
  await alice.press("#text", "Enter");
  await waitForText(alice, "🎉".repeat(900));
  // A message the server refuses for good (alice is muted here) comes back to the box.
  const json = { "Content-Type": "application/json" };
  assert.equal((await fetch(`${base}/rooms?id=olga`, { method: "POST", headers: json,
    body: JSON.stringify({ room: "hush", name: "Hush" }) })).status, 201);
  assert.equal((await fetch(`${base}/rooms/hush/mutes/alice?id=olga`, { method: "PUT" })).status, 200);
  await alice.evaluate(() => { location.hash = "#hush"; });
  await alice.waitForFunction(() => document.getElementById("title").textContent.includes("Hush"));
  await say(alice, "can I talk?");
  await alice.waitForFunction(() => [...document.querySelectorAll("#messages li.notice")].some((n) => n.textContent.includes("back in the box")));
  assert.equal(await alice.$eval("#text", (t) => t.value), "can I talk?");
  assert.equal(await alice.$$eval("#messages li.msg.failed, #messages li.msg.pending", (e) => e.length), 0);
  await a.close();
});

test("(edited) shows on a grouped message, and a message clears its author's typing line", async () => {
  const a = await browser.newContext(), b = await browser.newContext();
  const alice = await openAs(a, "alice", "grouped");
  const bob = await openAs(b, "bob", "grouped");
  await say(alice, "first line");
  await say(alice, "second line");
  await waitForText(bob, "second line");
  await alice.press("#text", "ArrowUp");
  await alice.fill("#text", "second line, fixed");
  await alice.press("#text", "Enter");
  await waitForText(bob, "second line, fixed");
  const edited = await bob.evaluate(() => {
    const li = [...document.querySelectorAll("#messages li.msg")].find((l) => l.textContent.includes("fixed"));
    const e = li.querySelector(".edited");
    return { grouped: li.classList.contains("cont"), shown: !!e && e.offsetParent !== null };
  });
  assert.deepEqual(edited, { grouped: true, shown: true });
  // A third user, whose typing notices no rate limit has counted yet.
  const c = await browser.newContext();
  const carol = await openAs(c, "carol", "grouped");
  await carol.type("#text", "typing now");
  await bob.waitForFunction(() => document.getElementById("typing").textContent.includes("carol is typing"));
  await publish("grouped", "carol", "sent from elsewhere");
  await waitForText(bob, "sent from elsewhere");
  assert.equal(await bob.$eval("#typing", (e) => e.textContent), "", "cleared by the message, not after 8 s");
  await a.close();
  await b.close();
  await c.close();
});

test("typing @ offers the room's people, by keyboard and by mouse", async () => {
  await publish("mention", "bobby", "hi");
  await publish("mention", "bob", "hello");
  const a = await browser.newContext();
  const alice = await openAs(a, "alice", "mention");
  await waitForText(alice, "hello");
  await alice.type("#text", "ping @bo");
  await alice.waitForSelector("#mentions:not([hidden]) li");
  assert.deepEqual(await alice.$$eval("#mentions li", (els) => els.map((e) => e.textContent)), ["@bob", "@bobby"]);
  await alice.press("#text", "ArrowDown");
  await alice.press("#text", "Enter");
  assert.equal(await alice.$eval("#text", (t) => t.value), "ping @bobby ");
  assert.equal(await alice.$eval("#mentions", (m) => m.hidden), true);
  await alice.type("#text", "and @b");
  await alice.waitForSelector("#mentions:not([hidden]) li");
  await alice.click("#mentions li >> nth=0");
  assert.equal(await alice.$eval("#text", (t) => t.value), "ping @bobby and @bob ");
  await alice.press("#text", "Enter");
  await waitForText(alice, "ping @bobby and @bob");
  await a.close();
});

test("the timeline is one tab stop: arrows move between messages, Tab reaches the focused one's actions", async () => {
  for (const [u, t] of [["bob", "one"], ["bob", "two"], ["carol", "three"], ["carol", "four"]]) await publish("keys", u, t);
  const a = await browser.newContext();
  const alice = await openAs(a, "alice", "keys");
  await waitForText(alice, "four");
  await alice.focus("#text");
  let presses = 0;
  while (presses < 6 && !(await alice.evaluate(() => document.activeElement.matches("li.msg")))) {
    await alice.keyboard.press("Shift+Tab");
    presses++;
  }
  assert.ok(presses <= 2, `${presses} Shift+Tab from the composer to the timeline`);
  const text = () => alice.evaluate(() => document.activeElement.querySelector(".text")?.textContent);
  assert.equal(await text(), "four", "the newest message first");
  await alice.keyboard.press("ArrowUp");
  assert.equal(await text(), "three");
  // A grouped message names its author for a screen reader.
  assert.equal(await alice.evaluate(() => document.activeElement.querySelector(".sr-author").textContent), "carol: ");
  await alice.keyboard.press("ArrowUp");
  assert.equal(await text(), "two");
  await alice.keyboard.press("Tab");
  const inMsg = await alice.evaluate(() => ({
    msg: document.activeElement.closest("li.msg")?.querySelector(".text")?.textContent,
    tag: document.activeElement.tagName }));
  assert.equal(inMsg.msg, "two", "Tab goes into the focused message's controls");
  // Leaving it, its controls leave the tab order again: one stop per timeline.
  await alice.focus("#text");
  const stops = await alice.$$eval("#messages [tabindex='0']", (els) => els.length);
  assert.equal(stops, 1);
  await a.close();
});

test("a reload tells the others nothing: no leave, no join", async () => {
  const a = await browser.newContext(), b = await browser.newContext();
  const alice = await openAs(a, "alice", "reload");
  const bob = await openAs(b, "bob", "reload");
  await bob.waitForFunction(() => document.getElementById("online").textContent.includes("alice"));
  const lines = () => bob.$$eval("#messages li.notice, #messages li.presence, #messages li.rules",
    (els) => els.map((e) => e.textContent));
  const before = await lines();
  await alice.reload();
  await alice.waitForSelector('#conn[data-state="connected"]', { timeout: 20000 });
  await new Promise((r) => setTimeout(r, 7000));  // past the 5 s a leave waits
  assert.deepEqual(await lines(), before, "bob's timeline says nothing of it");
  assert.match(await bob.$eval("#online", (e) => e.textContent), /alice/);
  await a.close();
  await b.close();
});
