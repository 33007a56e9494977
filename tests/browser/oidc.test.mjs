// Single sign-on against a real OpenID provider (the npm package oidc-provider, a certified
// implementation) on loopback: a full sign-in from the page's "Sign in with" button, and the
// ways it must fail without signing anyone in: a wrong state, an ID token signed by another
// key, and an expired one (the provider's answers are changed after it signs them, by a
// middleware of this test, and signed again with the provider's own or another key).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Provider from "oidc-provider";
import * as jose from "jose";
import { chromium } from "playwright-core";
import { FLAGS, startServer, stopServer, failOnPageErrors, say, waitForText } from "./lib.mjs";

const SHOTS = process.env.SCREENSHOT_DIR || "screenshots";
const CLIENT_SECRET = "oidc-test-client-secret";
let server = null, base = "", browser = null, issuer = "", provider = null, httpServer = null;
let mode = "ok";  // what the middleware does to the provider's token answers
let keys = null, otherKeys = null;

const freePort = () => new Promise((resolve) => {
  const s = createServer();
  s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
});

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  keys = await jose.generateKeyPair("RS256", { extractable: true });
  otherKeys = await jose.generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await jose.exportJWK(keys.privateKey)), kid: "k1", alg: "RS256", use: "sig" };
  const providerPort = await freePort();
  issuer = `http://127.0.0.1:${providerPort}`;
  process.env.SSECHAT_OIDC_CLIENT_SECRET = CLIENT_SECRET;
  server = await startServer(0, ["--store", "memory", "--publish-rate", "0", "--accounts",
    "--oidc-issuer", issuer, "--oidc-client-id", "ssechat", "--oidc-auto-create"]);
  base = `http://127.0.0.1:${server.port}`;
  provider = new Provider(issuer, {
    clients: [{
      client_id: "ssechat", client_secret: CLIENT_SECRET,
      redirect_uris: [`${base}/auth/oidc/callback`],
      grant_types: ["authorization_code"], response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    }],
    jwks: { keys: [jwk] },
    pkce: { methods: ["S256"], required: () => true },
    claims: { openid: ["sub"], profile: ["preferred_username", "name"] },
    conformIdTokenClaims: false,  // the profile claims in the ID token itself
    findAccount: async (ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: "sub-" + id, preferred_username: id, name: "Name of " + id }),
    }),
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ["oidc-test-cookie-key"] },
  });
  // After the provider has answered at /token: an ID token changed and signed again.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== "/token" || mode === "ok" || !ctx.body || !ctx.body.id_token) return;
    const claims = jose.decodeJwt(ctx.body.id_token);
    let key = keys.privateKey;
    if (mode === "expired") {
      claims.exp = Math.floor(Date.now() / 1000) - 3600;
      claims.iat = claims.exp - 600;
    } else if (mode === "other-key") {
      key = otherKeys.privateKey;
    }
    const id_token = await new jose.SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: "k1" }).sign(key);
    ctx.body = { ...ctx.body, id_token };
  });
  httpServer = provider.listen(providerPort, "127.0.0.1");
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await stopServer(server);
  if (httpServer) httpServer.close();
});

// From the page's sign-in form through the provider's login and consent, as `login`; the page
// the browser ends on.
async function ssoAs(login, at = base, idp = issuer) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${at}/#general`);
  await page.waitForSelector("#gate-oidc:not([hidden])", { timeout: 20000 });
  assert.equal(await page.textContent("#gate-oidc"), "Sign in with 127.0.0.1:" + idp.split(":")[2]);
  await page.click("#gate-oidc");
  await page.waitForSelector('input[name="login"]', { timeout: 20000 });
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', "any");
  await page.click('button[type="submit"]');
  // Consent, the first time this account signs in to the client.
  const consent = await page.waitForSelector('button:has-text("Continue")', { timeout: 5000 }).catch(() => null);
  if (consent) await consent.click();
  await page.waitForURL((u) => u.href.startsWith(at), { timeout: 20000 });
  return { page, context };
}

test("a full single sign-on makes the account and signs it in", async () => {
  mode = "ok";
  const { page, context } = await ssoAs("olga");
  failOnPageErrors(page, "olga");
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 20000 });
  assert.equal(await page.textContent("#signed-in-user"), "Name of olga");
  const me = await page.evaluate(async () => (await fetch("/me")).json());
  assert.equal(me.user_id, "olga");
  assert.equal(me.auth, "session");
  await say(page, "signed in with SSO");
  await waitForText(page, "signed in with SSO");
  await page.screenshot({ path: join(SHOTS, "oidc-signed-in.png") });
  await context.close();
});

test("an ID token signed by another key signs nobody in", async () => {
  mode = "other-key";
  const { page, context } = await ssoAs("mallory");
  await page.waitForSelector("h1:has-text('Sign-in failed')");
  assert.match(await page.textContent("#why"), /bad signature/);
  // The browser holds no session (its cookies go with context.request).
  assert.equal((await context.request.get(`${base}/me`)).status(), 401);
  await context.close();
  mode = "ok";
});

test("an expired ID token signs nobody in", async () => {
  mode = "expired";
  const { page, context } = await ssoAs("late");
  await page.waitForSelector("h1:has-text('Sign-in failed')");
  assert.match(await page.textContent("#why"), /expired/);
  assert.equal((await context.request.get(`${base}/me`)).status(), 401);
  await context.close();
  mode = "ok";
});

test("a callback whose state is not the browser's signs nobody in", async () => {
  const start = await fetch(`${base}/auth/oidc/start`, { redirect: "manual" });
  assert.equal(start.status, 302);
  const location = start.headers.get("location");
  assert.ok(location.startsWith(issuer + "/auth?"), location);
  const params = new URL(location).searchParams;
  assert.equal(params.get("code_challenge_method"), "S256");
  assert.equal(params.get("redirect_uri"), `${base}/auth/oidc/callback`);
  assert.ok(params.get("nonce") && params.get("state"));
  const cookie = start.headers.getSetCookie().find((c) => c.startsWith("ssechat_oidc="));
  assert.ok(cookie && /HttpOnly/.test(cookie), cookie);
  const cb = await fetch(`${base}/auth/oidc/callback?state=not-the-state&code=abc`, {
    redirect: "manual", headers: { Cookie: cookie.split(";")[0] },
  });
  assert.equal(cb.status, 400);
  assert.match(await cb.text(), /state does not match/);
  assert.ok(!cb.headers.getSetCookie().some((c) => c.startsWith("ssechat_session=")));
  // Without the browser's cookie at all, likewise.
  const bare = await fetch(`${base}/auth/oidc/callback?state=${params.get("state")}&code=abc`, { redirect: "manual" });
  assert.equal(bare.status, 400);
});

test("a provider that takes client_secret_post only and signs with ES256", async () => {
  const ec = await jose.generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await jose.exportJWK(ec.privateKey)), kid: "e1", alg: "ES256", use: "sig" };
  const port = await freePort();
  const idp = `http://127.0.0.1:${port}`;
  const chat = await startServer(0, ["--store", "memory", "--accounts", "--oidc-issuer", idp,
    "--oidc-client-id", "ssechat-ec", "--oidc-auto-create"]);
  const at = `http://127.0.0.1:${chat.port}`;
  const posts = [];
  const p2 = new Provider(idp, {
    clients: [{
      client_id: "ssechat-ec", client_secret: CLIENT_SECRET, redirect_uris: [`${at}/auth/oidc/callback`],
      grant_types: ["authorization_code"], response_types: ["code"],
      token_endpoint_auth_method: "client_secret_post", id_token_signed_response_alg: "ES256",
    }],
    clientAuthMethods: ["client_secret_post"],
    enabledJWA: { idTokenSigningAlgValues: ["ES256"] },
    jwks: { keys: [jwk] },
    pkce: { methods: ["S256"], required: () => true },
    claims: { openid: ["sub"], profile: ["preferred_username", "name"] },
    conformIdTokenClaims: false,
    findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id, preferred_username: id }) }),
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ["oidc-test-cookie-key-2"] },
  });
  // What the token endpoint was sent: the secret in the form, not in an Authorization header.
  p2.use(async (ctx, next) => {
    if (ctx.path === "/token") posts.push({ basic: !!ctx.headers.authorization });
    await next();
  });
  const http2 = p2.listen(port, "127.0.0.1");
  try {
    const { page, context } = await ssoAs("eve", at, idp);
    await page.waitForSelector('#conn[data-state="connected"]', { timeout: 20000 });
    const me = await page.evaluate(async () => (await fetch("/me")).json());
    assert.equal(me.user_id, "eve");
    assert.deepEqual(posts, [{ basic: false }]);
    await context.close();
  } finally {
    http2.close();
    await stopServer(chat);
  }
});
