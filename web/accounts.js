// ssechat web client, accounts: the sign-in form, the invite page, the account menu (name,
// password, sessions) and the display names shown for user ids. Loaded before app.js, which
// asks it through window.ssechatAccounts. User text only ever goes into textContent.
"use strict";
window.ssechatAccounts = (() => {
  const $ = (id) => document.getElementById(id);
  const names = new Map();   // user id -> display name, as the server said
  const asked = new Set();   // ids being looked up, or looked up without an account
  let pending = [];          // ids to look up at the next tick
  let lookupTimer = 0;
  let info = { mode: "anonymous", signup: "invite" };
  let onSignedIn = () => {};
  let signingUp = false;     // the invite form makes an account without an invite

  async function call(method, path, body) {
    const r = await fetch(path, {
      method, cache: "no-store",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const got = r.status === 204 ? {} : await r.json().catch(() => ({}));
    if (!r.ok) {
      const e = new Error(got.error || r.statusText);
      e.status = r.status;
      e.retryAfter = Number(r.headers.get("Retry-After")) || 0;
      throw e;
    }
    return got;
  }

  // ---- display names ----------------------------------------------------------------------
  // An element that shows a user: their display name once known, their id on hover.
  function showUser(el, id) {
    el.dataset.nameOf = id;
    el.title = id;
    el.textContent = names.get(id) || id;
    if (info.mode === "accounts" && !names.has(id) && !asked.has(id)) {
      asked.add(id);
      pending.push(id);
      clearTimeout(lookupTimer);
      lookupTimer = setTimeout(lookup, 50);
    }
    return el;
  }
  const nameOf = (id) => names.get(id) || id;
  async function lookup() {
    const batch = pending.splice(0, 100);
    if (pending.length) lookupTimer = setTimeout(lookup, 50);
    if (!batch.length) return;
    try {
      const got = await call("GET", "/users?ids=" + batch.map(encodeURIComponent).join(","));
      for (const u of got.users) names.set(u.user_id, u.display_name);
      for (const el of document.querySelectorAll("[data-name-of]"))
        if (names.has(el.dataset.nameOf)) el.textContent = names.get(el.dataset.nameOf);
    } catch { /* ids stand in for names */ }
  }

  // ---- the gate: sign in, or accept an invite ------------------------------------------------
  function inviteCode() {
    const m = location.hash.match(/^#invite=([A-Za-z0-9_-]+)$/);
    return m ? m[1] : "";
  }
  function showForm(which, why) {
    $("gate").hidden = false;
    for (const id of ["gate-name", "gate-token", "gate-account", "gate-invite"])
      $(id).hidden = id !== which;
    const err = $(which + "-why");
    if (err) err.textContent = why || "";
    const first = $(which).querySelector("input");
    if (first) first.focus();
  }
  // Shows the sign-in form (or the invite form for an #invite= link); `why` says what ended
  // the last session, if anything did.
  function gate(why) {
    if (inviteCode()) showForm("gate-invite", why);
    else showForm("gate-account", why);
    $("gate-signup").hidden = info.signup !== "open";
    $("gate-oidc").hidden = !info.oidc;
    if (info.oidc) $("gate-oidc").textContent = "Sign in with " + info.oidc;
  }
  function tooMany(e) {
    return e.status === 429
      ? `Too many tries: wait ${e.retryAfter > 90 ? Math.ceil(e.retryAfter / 60) + " minutes" : e.retryAfter + " seconds"}.`
      : e.message;
  }
  async function signIn(e) {
    e.preventDefault();
    const user_id = $("gate-account-user").value.trim(), password = $("gate-account-password").value;
    if (!user_id || !password) return;
    try {
      const me = await call("POST", "/auth/login", { user_id, password });
      $("gate-account-password").value = "";
      names.set(me.user_id, me.display_name);
      onSignedIn();
    } catch (err) {
      $("gate-account-why").textContent = tooMany(err);
    }
  }
  async function accept(e, signup) {
    e.preventDefault();
    const body = {
      user_id: $("gate-invite-user").value.trim(),
      password: $("gate-invite-password").value,
      display_name: $("gate-invite-name").value.trim(),
    };
    if (!body.display_name) delete body.display_name;
    try {
      const path = signup ? "/auth/signup" : "/auth/invites/" + inviteCode() + "/accept";
      const me = await call("POST", path, body);
      names.set(me.user_id, me.display_name);
      history.replaceState(null, "", location.pathname + "#general");
      onSignedIn();
    } catch (err) {
      $("gate-invite-why").textContent =
        err.status === 410 ? "This invite was used, withdrawn or has expired: ask for a new one." : tooMany(err);
    }
  }

  // ---- the account menu -----------------------------------------------------------------------
  async function openMenu() {
    const panel = $("account-panel");
    panel.hidden = !panel.hidden;
    $("account-btn").setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) await listSessions();
  }
  async function listSessions() {
    const list = $("sessions");
    try {
      const got = await call("GET", "/me/sessions");
      list.replaceChildren(...got.sessions.map((s) => {
        const li = document.createElement("li");
        const what = document.createElement("span");
        what.textContent = (s.current ? "This browser" : s.user_agent || "Unknown browser") +
          " · last used " + new Date(s.last_seen).toLocaleString();
        li.append(what);
        if (!s.current) {
          const b = document.createElement("button");
          b.type = "button";
          b.className = "link";
          b.textContent = "Sign out";
          b.addEventListener("click", async () => {
            await call("DELETE", "/me/sessions/" + encodeURIComponent(s.id)).catch(() => {});
            listSessions();
          });
          li.append(b);
        }
        return li;
      }));
    } catch (e) {
      list.textContent = "Could not list sessions: " + e.message;
    }
  }
  async function saveName(e) {
    e.preventDefault();
    const display_name = $("account-name").value.trim();
    try {
      const me = await call("PATCH", "/me", { display_name });
      names.set(me.user_id, me.display_name);
      $("signed-in-user").textContent = me.display_name;
      $("account-why").textContent = "Saved.";
    } catch (err) {
      $("account-why").textContent = err.message;
    }
  }
  async function changePassword(e) {
    e.preventDefault();
    try {
      await call("PUT", "/me/password", { old: $("account-old").value, new: $("account-new").value });
      $("account-old").value = $("account-new").value = "";
      $("account-why").textContent = "Password changed; your other sessions were signed out.";
      listSessions();
    } catch (err) {
      $("account-why").textContent = err.status === 403 ? "The current password is wrong." : tooMany(err);
    }
  }
  async function signOut(everywhere) {
    await call("POST", everywhere ? "/auth/logout-all" : "/auth/logout").catch(() => {});
    $("account-panel").hidden = true;
    window.dispatchEvent(new Event("ssechat:signed-out"));
    gate(everywhere ? "Signed out everywhere." : "Signed out.");
  }

  // Reads how this server signs people in; wires the forms once.
  async function setup(signedIn) {
    onSignedIn = signedIn;
    try { info = await call("GET", "/auth"); } catch { /* an older server: no accounts */ }
    $("gate-account").addEventListener("submit", signIn);
    $("gate-invite").addEventListener("submit", (e) => accept(e, signingUp));
    $("gate-signup").addEventListener("click", () => {
      signingUp = true;
      showForm("gate-invite");
      $("gate-invite-title").textContent = "Make an account";
    });
    $("gate-oidc").addEventListener("click", () => { location.href = "/auth/oidc/start"; });
    $("account-btn").addEventListener("click", openMenu);
    $("account-name-form").addEventListener("submit", saveName);
    $("account-password-form").addEventListener("submit", changePassword);
    $("sign-out-here").addEventListener("click", () => signOut(false));
    $("sign-out-everywhere").addEventListener("click", () => signOut(true));
    return info;
  }
  // Signed in: the sidebar says as whom, and offers the account menu.
  function signedIn(me) {
    names.set(me.user_id, me.display_name || me.user_id);
    $("signed-in-user").textContent = me.display_name || me.user_id;
    $("signed-in-user").title = me.user_id;
    // Sessions have an account menu; a token has only "sign out" (forget the token).
    const session = me.auth === "session";
    $("account-btn").hidden = !session;
    $("sign-out").hidden = session;
    $("account-name").value = me.display_name || "";
  }

  return { setup, gate, signedIn, showUser, nameOf, inviteCode, mode: () => info.mode };
})();
