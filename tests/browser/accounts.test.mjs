// Browser tests of accounts (--accounts): signing in with a password, display names shown for
// ids, "sign out everywhere" from a second browser ending the first one's stream, and an
// invite link opened in a fresh browser.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { FLAGS, startServer, stopServer, failOnPageErrors, say, waitForText } from "./lib.mjs";

const SHOTS = process.env.SCREENSHOT_DIR || "screenshots";
const ROOT_PASSWORD = "root-password-long";
let server = null, base = "", browser = null;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  process.env.SSECHAT_FIRST_ADMIN_PASSWORD = ROOT_PASSWORD;
  server = await startServer(0, ["--store", "memory", "--publish-rate", "0", "--accounts", "--first-admin", "root"]);
  base = `http://127.0.0.1:${server.port}`;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await stopServer(server);
});

// A fresh browser at the sign-in form, signed in as `user`.
async function signIn(user, password, hash = "general") {
  const context = await browser.newContext();
  const page = await context.newPage();
  failOnPageErrors(page, user);
  await page.goto(`${base}/#${hash}`);
  await page.waitForSelector("#gate-account:not([hidden])", { timeout: 20000 });
  await page.fill("#gate-account-user", user);
  await page.fill("#gate-account-password", password);
  await page.click('#gate-account button[type="submit"]');
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 20000 });
  return { page, context };
}

test("a wrong password is refused; the right one signs in and the page shows display names", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  failOnPageErrors(page, "root");
  await page.goto(`${base}/#general`);
  await page.waitForSelector("#gate-account:not([hidden])", { timeout: 20000 });
  assert.equal(await page.isVisible("#gate-name"), false, "no free-for-all name box");
  await page.fill("#gate-account-user", "root");
  await page.fill("#gate-account-password", "not-the-password");
  await page.click('#gate-account button[type="submit"]');
  await page.waitForFunction(() => document.querySelector("#gate-account-why").textContent.includes("wrong"));
  await page.fill("#gate-account-password", ROOT_PASSWORD);
  await page.click('#gate-account button[type="submit"]');
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 20000 });
  // The session cookie is HttpOnly: no script on the page can read it.
  assert.equal(await page.evaluate(() => document.cookie.includes("ssechat_session")), false);

  // A display name set in the account menu is what others see, with the id on hover.
  await page.click("#account-btn");
  await page.fill("#account-name", "The Root");
  await page.click('#account-name-form button[type="submit"]');
  await page.waitForFunction(() => document.querySelector("#signed-in-user").textContent === "The Root");
  await say(page, "hello from root");
  await waitForText(page, "hello from root");
  const author = await page.$eval("#messages li.msg .author", (e) => [e.textContent, e.title]);
  assert.deepEqual(author, ["The Root", "root"]);
  await page.screenshot({ path: join(SHOTS, "accounts-signed-in.png") });
  await context.close();
});

test("sign out everywhere from a second browser ends the first one's stream", async () => {
  const first = await signIn("root", ROOT_PASSWORD);
  const second = await signIn("root", ROOT_PASSWORD);
  await second.page.click("#account-btn");
  await second.page.waitForFunction(() => document.querySelectorAll("#sessions li").length >= 2);
  await second.page.click("#sign-out-everywhere");
  await second.page.waitForSelector("#gate-account:not([hidden])");
  // The first browser's stream ends; its page asks to sign in again.
  await first.page.waitForSelector("#gate-account:not([hidden])", { timeout: 15000 });
  assert.notEqual(await first.page.getAttribute("#conn", "data-state"), "connected");
  await first.context.close();
  await second.context.close();
});

test("an invite link opens an account form in a fresh browser", async () => {
  const admin = await signIn("root", ROOT_PASSWORD);
  const code = await admin.page.evaluate(async () => {
    const r = await fetch("/auth/invites", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    return (await r.json()).code;
  });
  assert.match(code, /^[A-Za-z0-9_-]{22}$/);
  const context = await browser.newContext();
  const page = await context.newPage();
  failOnPageErrors(page, "newcomer");
  await page.goto(`${base}/#invite=${code}`);
  await page.waitForSelector("#gate-invite:not([hidden])", { timeout: 20000 });
  await page.fill("#gate-invite-user", "nina");
  await page.fill("#gate-invite-name", "Nina N");
  await page.fill("#gate-invite-password", "ninas-password-1");
  await page.click('#gate-invite button[type="submit"]');
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 20000 });
  assert.equal(await page.textContent("#signed-in-user"), "Nina N");
  await say(page, "hi, I am new");
  // The admin's page shows her display name on her message.
  await waitForText(admin.page, "hi, I am new");
  await admin.page.waitForFunction(() => [...document.querySelectorAll("#messages li.msg .author")]
    .some((e) => e.textContent === "Nina N" && e.title === "nina"));
  await page.screenshot({ path: join(SHOTS, "accounts-invited.png") });
  await context.close();
  await admin.context.close();
});
