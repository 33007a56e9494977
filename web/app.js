// ssechat web client: sign-in (a name, or a token), the rooms one is in with unread and mention
// counts, history, one user stream for every room through a shared worker, read markers synced
// across devices, "seen by", presence, typing, edits, deletes, reactions and replies, and a
// composer that never loses what was typed. User text only ever goes into textContent.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const accounts = window.ssechatAccounts;
  const ROOM_RE = /^[A-Za-z0-9_.-]{1,64}$/;
  const ROOM_RULE = "Room names are 1 to 64 of the letters A-Z and a-z, digits, _ . and -.";
  const GROUP_MS = 5 * 60 * 1000;    // consecutive messages of one author within this share a header
  const MAX_BYTES = 4096;            // the server's --max-message default, in UTF-8 bytes
  const SEND_TIMEOUT_MS = 10000;     // a pending send turns into "Not sent" with Retry after this
  const PICKS = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "🙏"];  // the reaction picker's row

  const st = {
    user: "", token: "", auth: "", room: "",  // auth: "" until /me answers ids: new Set(), oldest: null, hasMore: true,
    loadingOlder: false, online: new Set(), channel: null, roomsTimer: 0, conn: "offline",
    expiryTimer: 0,
    msgs: new Map(),        // id -> { m: the message's current state, li }
    moderator: false, moderators: [],
    replyTo: 0, editing: 0,  // the composer's mode: answering or editing a message
    typists: new Map(),      // user -> timer that forgets them if their "stopped" is lost
    typingSaid: 0,           // when this page last said it is typing; 0: it said it stopped
    joined: new Map(),       // room -> its summary {name,last_id,read,unread,mentions,online}
    others: [],              // rooms with messages one is not in (from GET /rooms)
    lastEvent: 0,            // the newest event id seen in the open room (the marker's limit)
    receipts: new Map(),     // the open room's read markers: user -> id
    markTimer: 0, myRoomsTimer: 0,
    profile: null,           // the open room's profile (GET /rooms/{room}), null for a new room
    members: [],             // the open room's members, while the members panel is open
  };
  const RANK = { member: 1, moderator: 2, owner: 3 };
  // The open room's role of this user, with server-wide moderators counted.
  const myRank = () => Math.max(RANK[st.profile && st.profile.my_role] || 0, isModerator() ? 2 : 0);
  const canModerate = () => !!st.profile && st.profile.visibility !== "dm" && myRank() >= 2;
  // What the sidebar and the header call a room: its name, a DM by the other person.
  const label = (r) => (r.kind === "dm" ? "@ " + r.with : r.kind === "private" ? "🔒 " + (r.title || r.name) : "# " + (r.title || r.name));
  const isModerator = () => (st.auth === "anonymous" ? st.moderators.includes(st.user) : st.moderator);

  // ---- server calls ---------------------------------------------------------------------
  function authHeaders(extra = {}) {
    return st.token ? { ...extra, Authorization: "Bearer " + st.token } : extra;
  }
  class HttpError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  async function getJSON(url) {
    const r = await fetch(url, { cache: "no-store", headers: authHeaders() });
    const body = await r.json().catch(() => ({}));
    if (r.status === 401) signInAgain(body.error);
    if (!r.ok) throw new HttpError(r.status, body.error || r.statusText);
    return body;
  }
  // A call that changes something: JSON in and out, the user's id or token, errors thrown.
  async function apiCall(method, path, body) {
    const q = userQuery();
    const r = await fetch(path + (q ? (path.includes("?") ? "&" : "?") + q : ""), {
      method, headers: authHeaders(body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    const got = await r.json().catch(() => ({}));
    if (r.status === 401) signInAgain(got.error);
    if (!r.ok) throw new HttpError(r.status, got.error || r.statusText);
    return got;
  }
  const roomPath = (room) => "/rooms/" + encodeURIComponent(room);
  const userQuery = () => (st.auth === "anonymous" ? "id=" + encodeURIComponent(st.user) : "");

  // ---- identity: a name in anonymous mode, a token otherwise ------------------------------
  // The token comes from #token= in the URL (then removed from it), from what was pasted
  // before (localStorage), or from the ssechat_token cookie, which the browser sends by itself.
  function takeTokenFromUrl() {
    const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
    if (!m) return "";
    const rest = location.hash.replace(/(^#|&)token=[^&]+/, "").replace(/^#&/, "#");
    history.replaceState(null, "", rest === "#" ? location.pathname : rest);
    return decodeURIComponent(m[1]);
  }

  function showGate(which, why) {
    $("gate").hidden = false;
    $("gate-name").hidden = which !== "name";
    $("gate-token").hidden = which !== "token";
    $("gate-account").hidden = $("gate-invite").hidden = true;
    if (which === "token") $("gate-token-why").textContent = why || "";
    $(which === "name" ? "gate-name-input" : "gate-token-input").focus();
  }
  function hideGate() {
    $("gate").hidden = true;
  }

  // A 401 after sign-in means the token expired or was revoked, or the session ended: ask
  // again, say why.
  function signInAgain(why) {
    if (st.auth === "anonymous") return;
    if (accounts.mode() === "accounts") {
      if (st.channel) st.channel.close();
      setConn("offline");
      accounts.gate(/ended/.test(why || "") ? "You were signed out." : "");
      return;
    }
    localStorage.removeItem("ssechat.token");
    st.token = "";
    if (st.channel) st.channel.close();
    setConn("offline");
    const text = /expired/.test(why || "") ? "Your sign-in has expired. Paste a new token."
      : /missing token/.test(why || "") ? "" : why;
    showGate("token", text);
  }

  // Asks the server who this page is: anonymous (then a name is needed) or signed in.
  async function identify() {
    let me;
    try {
      me = await getJSON("/me");
    } catch (e) {
      if (e.status === 401) return false;  // the gate is showing (signInAgain)
      throw e;
    }
    st.auth = me.auth;
    st.moderator = !!me.moderator;
    st.moderators = me.moderators || [];
    if (me.auth === "anonymous") {
      const name = localStorage.getItem("ssechat.name");
      if (!name) {
        showGate("name");
        return false;
      }
      st.user = name;
      $("name-form").hidden = false;
      $("signed-in").hidden = true;
      $("name").value = name;
    } else {
      st.user = me.user_id;
      $("name-form").hidden = true;
      $("signed-in").hidden = false;
      accounts.signedIn(me);  // the name, the id on hover, and the account menu
      clearTimeout(st.expiryTimer);
      if (me.expires) {
        const ms = me.expires * 1000 - Date.now();
        // Past the server's leeway the next request would fail; say so before it does.
        st.expiryTimer = setTimeout(() => signInAgain("token expired"), Math.max(0, ms) + 31000);
      }
    }
    return true;
  }

  // ---- rendering ------------------------------------------------------------------------
  function button(cls, label, title, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.textContent = label;
    if (title) { b.title = title; b.setAttribute("aria-label", title); }
    b.addEventListener("click", onClick);
    return b;
  }

  // A short line of a message for quotes and the composer's reply bar.
  function snippet(m) {
    if (!m) return "an earlier message";
    if (m.deleted) return m.user_id + ": message deleted";
    const t = m.message.length > 80 ? m.message.slice(0, 79) + "…" : m.message;
    return m.user_id + ": " + t;
  }

  // On a touch screen there is no hover: a tap on a message shows its actions.
  const coarse = window.matchMedia("(pointer: coarse)");
  function messageNode(m) {
    const li = document.createElement("li");
    li.addEventListener("click", (e) => {
      if (!coarse.matches || e.target.closest("button, a")) return;
      for (const other of $("messages").querySelectorAll("li.show-actions")) if (other !== li) other.classList.remove("show-actions");
      li.classList.toggle("show-actions");
    });
    li.className = "msg" + (m.user_id === st.user ? " mine" : "");
    if (m.id) li.dataset.id = String(m.id);
    li.dataset.user = m.user_id;
    li.dataset.ts = String(m.ts || Date.now());
    render(li, m);
    return li;
  }

  // (Re)draws a message from its state: header, quote, text or tombstone, reactions, actions.
  function render(li, m) {
    const keep = li.querySelector(".error");  // a failed send's Retry stays
    li.replaceChildren();
    li.classList.toggle("deleted", !!m.deleted);
    const meta = document.createElement("div");
    meta.className = "meta";
    const author = document.createElement("span");
    author.className = "author";
    accounts.showUser(author, m.user_id);
    author.tabIndex = 0;
    author.setAttribute("role", "button");
    author.addEventListener("click", (e) => openNameMenu(m.user_id, e.currentTarget));
    const time = document.createElement("time");
    const d = new Date(m.ts || Date.now());
    time.dateTime = d.toISOString();
    time.textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    meta.append(author, time);
    li.append(meta);
    if (m.reply_to && !m.deleted) {
      li.dataset.reply = String(m.reply_to);
      const orig = st.msgs.get(m.reply_to);
      const q = button("quote", "↪ " + snippet(orig && orig.m), "", () => showOriginal(m.reply_to));
      q.setAttribute("aria-label", "Reply to " + snippet(orig && orig.m) + ". Show it.");
      if (!orig) fetchOriginal(m.reply_to);
      li.append(q);
    }
    // The author in every message's text for a screen reader: a grouped message hides its
    // header, and its author with it (CSS hides this one where the header shows).
    const who = document.createElement("span");
    who.className = "sr-author visually-hidden";
    who.textContent = accounts.nameOf(m.user_id) + ": ";
    li.append(who);
    const body = document.createElement("div");
    body.className = "text";
    if (m.deleted) body.textContent = "message deleted";
    else window.ssechatMarkdown.render(body, m.message, st.user);
    li.append(body);
    // With the text, not in the header: a message grouped under an earlier one hides that.
    if (m.edited_ts && !m.deleted) {
      const ed = document.createElement("span");
      ed.className = "edited";
      ed.textContent = "(edited)";
      ed.title = "edited " + new Date(m.edited_ts).toLocaleString();
      li.append(ed);
    }
    if (!m.deleted) window.ssechatFiles.render(li, m.files);
    if (!m.id || m.deleted) {
      if (keep) li.append(keep);
      return;
    }
    if (m.reactions && m.reactions.length) {
      const bar = document.createElement("div");
      bar.className = "reactions";
      for (const r of m.reactions) {
        const mine = r.users.includes(st.user);
        const more = r.count > r.users.length ? ` and ${r.count - r.users.length} more` : "";
        const chip = button("chip", `${r.emoji} ${r.count}`, `${r.users.join(", ")}${more} reacted with ${r.emoji}`,
          () => react(m.id, r.emoji, !mine));
        chip.setAttribute("aria-pressed", String(mine));
        bar.append(chip);
      }
      li.append(bar);
    }
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.append(button("act react", "☺", "Add a reaction", (e) => openPicker(m.id, e.currentTarget)),
      button("act reply", "↪", "Reply", () => startReply(m.id)));
    if (m.user_id === st.user) actions.append(button("act edit", "✎", "Edit", () => startEdit(m.id)));
    if (m.user_id === st.user || isModerator() || canModerate())
      actions.append(button("act delete", "🗑", "Delete", () => removeMessage(m.id)));
    li.append(actions);
    rove(li);
  }

  // The timeline is one tab stop: the current message (tabindex 0); arrows move between
  // messages; a message's own controls are in the tab order only while it has the focus.
  function rove(li, active) {
    if (active !== undefined) {
      for (const other of $("messages").querySelectorAll("li.msg[tabindex='0']")) if (other !== li) other.tabIndex = -1;
      li.tabIndex = 0;
    } else if (li.tabIndex !== 0) {
      li.tabIndex = $("messages").querySelector("li.msg[tabindex='0']") ? -1 : 0;
    }
    const inside = li.contains(document.activeElement);
    for (const el of li.querySelectorAll("button, a, [tabindex]")) if (el !== li) el.tabIndex = inside ? 0 : -1;
  }
  function onTimelineKey(e) {
    const li = e.target.closest && e.target.closest("li.msg");
    if (!li || (e.key !== "ArrowUp" && e.key !== "ArrowDown" && e.key !== "Home" && e.key !== "End")) return;
    const all = [...$("messages").querySelectorAll("li.msg")];
    let i = all.indexOf(li);
    i = e.key === "Home" ? 0 : e.key === "End" ? all.length - 1 : i + (e.key === "ArrowUp" ? -1 : 1);
    const next = all[Math.max(0, Math.min(all.length - 1, i))];
    if (!next) return;
    e.preventDefault();
    rove(next, true);
    next.focus();
  }

  // Redraws a message after its state changed, and the quotes of its replies.
  function update(m) {
    const s = st.msgs.get(m.id);
    if (!s) return;
    s.m = m;
    render(s.li, m);
    for (const li of $("messages").querySelectorAll(`li[data-reply="${m.id}"]`)) {
      const r = st.msgs.get(Number(li.dataset.id));
      if (r) render(li, r.m);
    }
  }

  // A message continues the one before it (no second header) when the same author wrote it
  // within five minutes, with nothing else in between.
  function regroup(node) {
    for (const el of [node, node && node.nextElementSibling]) {
      if (!el || !el.classList.contains("msg")) continue;
      const prev = el.previousElementSibling;
      const cont = !!prev && prev.classList.contains("msg") && prev.dataset.user === el.dataset.user &&
        Number(el.dataset.ts) - Number(prev.dataset.ts) < GROUP_MS;
      el.classList.toggle("cont", cont);
    }
  }

  function atBottom() {
    const log = $("log");
    return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  }
  function scrollToBottom() {
    const log = $("log");
    log.scrollTop = log.scrollHeight;
    $("new-marker").hidden = true;
  }

  // Places a node in time order: after the last message with a smaller id or the last notice
  // no newer than it. Notices have no id, so ids alone would leave them stuck at the bottom.
  function place(node, id, ts) {
    const list = $("messages");
    let after = null;
    for (let el = list.lastElementChild; el; el = el.previousElementSibling) {
      if (el.classList.contains("pending") || el.classList.contains("failed")) continue;
      if (el.dataset.id ? Number(el.dataset.id) < id : Number(el.dataset.ts) <= ts) { after = el; break; }
    }
    if (after) after.after(node);
    else list.prepend(node);
    // Unsent messages stay last, below whatever arrives meanwhile.
    for (const p of list.querySelectorAll("li.pending, li.failed")) list.append(p);
    regroup(node);
  }

  // Inserts a committed message in id order, once.
  function addMessage(m, live) {
    if (!m || typeof m.id !== "number" || st.ids.has(m.id)) return;
    $("messages").querySelector("li.empty-room")?.remove();
    st.ids.add(m.id);
    if (st.oldest === null || m.id < st.oldest) st.oldest = m.id;
    const list = $("messages");
    // My own message arriving replaces its placeholder: pending, or failed when the answer was
    // lost although the server stored it (a retry of it would be answered from its key anyway).
    const key = CSS.escape(m.user_id + "\n" + m.message);
    const mine = list.querySelector(`li.pending[data-key="${key}"], li.failed[data-key="${key}"]`);
    if (mine && m.user_id === st.user) mine.remove();
    const stick = atBottom();
    const li = messageNode(m);
    st.msgs.set(m.id, { m, li });
    place(li, m.id, m.ts || Date.now());
    // The timeline's one tab stop is its newest message, unless a reader is in it.
    if (!list.contains(document.activeElement)) {
      const newest = [...list.querySelectorAll("li.msg")].pop();
      if (newest) rove(newest, true);
    }
    // Replies already shown whose original just arrived get their quote.
    for (const r of list.querySelectorAll(`li[data-reply="${m.id}"]`)) {
      const s = st.msgs.get(Number(r.dataset.id));
      if (s) render(r, s.m);
    }
    if (live) {
      decorate();
      if (stick || m.user_id === st.user) scrollToBottom();
      else $("new-marker").hidden = false;
    }
  }

  // A change from the stream, applied to the message it names when it is shown. Applying one
  // twice changes nothing, so a change that also came in a fetched state is harmless.
  function applyChange(kind, e) {
    const s = st.msgs.get(e.target);
    if (!s) return;
    const m = { ...s.m, reactions: (s.m.reactions || []).map((r) => ({ ...r, users: [...r.users] })) };
    if (kind === "edit") {
      if (m.deleted) return;
      m.message = e.message;
      m.edited_ts = e.ts;
    } else if (kind === "delete") {
      m.deleted = true;
      delete m.message;
      m.reactions = [];
      if (st.editing === e.target) cancelMode();
    } else if (kind === "reaction") {
      let r = m.reactions.find((x) => x.emoji === e.emoji);
      const has = !!r && r.users.includes(e.user_id);
      if (e.op === "add" && !has) {
        if (!r) m.reactions.push((r = { emoji: e.emoji, count: 0, users: [] }));
        r.count++;
        r.users.push(e.user_id);
      } else if (e.op === "remove" && r && (has || r.count > r.users.length)) {
        r.count--;
        r.users = r.users.filter((u) => u !== e.user_id);
        if (r.count <= 0) m.reactions = m.reactions.filter((x) => x !== r);
      }
    }
    update(m);
  }

  async function fetchOriginal(id) {
    st.fetching = st.fetching || new Set();
    if (st.fetching.has(id)) return;
    st.fetching.add(id);
    try {
      const m = await getJSON(`${roomPath(st.room)}/messages/${id}`);
      for (const li of $("messages").querySelectorAll(`li[data-reply="${id}"] .quote`))
        li.textContent = "↪ " + snippet(m);
    } catch (e) { /* the quote keeps its placeholder */ }
  }

  function showOriginal(id) {
    const s = st.msgs.get(id);
    if (!s) { notice("The original message is further up: scroll to load it."); return; }
    s.li.scrollIntoView({ block: "center", behavior: "smooth" });
    s.li.classList.add("flash");
    setTimeout(() => s.li.classList.remove("flash"), 1600);
  }

  // ---- changing messages ------------------------------------------------------------------
  async function changeCall(method, path, body) {
    const q = userQuery();
    const r = await fetch(`${roomPath(st.room)}/messages/${path}${q ? "?" + q : ""}`, {
      method,
      headers: authHeaders(body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    const got = await r.json().catch(() => ({}));
    if (r.status === 401) signInAgain(got.error);
    if (!r.ok) throw new HttpError(r.status, got.error || r.statusText);
    return got;
  }

  async function react(id, emoji, add) {
    closePicker();
    try {
      update(await changeCall(add ? "PUT" : "DELETE", `${id}/reactions/${encodeURIComponent(emoji)}`));
    } catch (e) { notice("Could not react: " + e.message); }
  }

  async function removeMessage(id) {
    if (!confirm("Delete this message? Everyone will see that it was deleted.")) return;
    try {
      update(await changeCall("DELETE", String(id)));
    } catch (e) { notice("Could not delete: " + e.message); }
  }

  function setMode(text, cls) {
    const bar = $("composer-context");
    bar.hidden = !text;
    bar.className = "composer-context " + (cls || "");
    $("composer-context-text").textContent = text || "";
  }
  function startReply(id) {
    const s = st.msgs.get(id);
    if (!s) return;
    if (st.editing) { $("text").value = ""; autosize(); }
    st.editing = 0;
    st.replyTo = id;
    setMode("Replying to " + snippet(s.m), "replying");
    $("text").focus();
  }
  function startEdit(id) {
    const s = st.msgs.get(id);
    if (!s || s.m.deleted) return;
    st.replyTo = 0;
    st.editing = id;
    setMode("Editing your message · Escape cancels", "editing");
    $("text").value = s.m.message;
    autosize();
    $("text").focus();
  }
  function cancelMode() {
    if (st.editing) { $("text").value = ""; autosize(); }
    st.editing = st.replyTo = 0;
    setMode("");
  }
  // Arrow-up in an empty box edits my last message still standing.
  function lastOwn() {
    let best = 0;
    for (const [id, s] of st.msgs) if (s.m.user_id === st.user && !s.m.deleted && id > best) best = id;
    return best;
  }

  async function saveEdit(id, text) {
    try {
      update(await changeCall("PATCH", String(id), { message: text }));
    } catch (e) {
      notice("Could not edit: " + e.message);
      startEdit(id);
      $("text").value = text;
    }
  }

  function openPicker(id, anchor) {
    closePicker();
    const box = document.createElement("div");
    box.className = "picker";
    box.id = "picker";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", "Pick a reaction");
    for (const e of PICKS) box.append(button("pick", e, "React with " + e, () => react(id, e, true)));
    const form = document.createElement("form");
    const input = document.createElement("input");
    input.maxLength = 32;
    input.placeholder = "an emoji or :name:";
    input.setAttribute("aria-label", "An emoji, or a name like :tada:");
    form.append(input);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = input.value.trim();
      if (v) react(id, v, true);
    });
    box.append(form);
    box.addEventListener("keydown", (ev) => { if (ev.key === "Escape") { closePicker(); anchor.focus(); } });
    anchor.closest("li").append(box);
    box.querySelector("button").focus();
  }
  function closePicker() {
    $("picker")?.remove();
  }

  function notice(text) {
    const li = document.createElement("li");
    li.className = "notice";
    li.textContent = text;
    li.dataset.ts = String(Date.now());
    const stick = atBottom();
    place(li, Infinity, Date.now());
    if (stick) scrollToBottom();
  }

  function renderOnline() {
    const ul = $("online");
    ul.replaceChildren();
    for (const u of [...st.online].sort()) {
      const li = document.createElement("li");
      accounts.showUser(li, u);
      if (u === st.user) li.append(" (you)");
      ul.append(li);
    }
    $("online-count").textContent = String(st.online.size);
    // The sidebar's "N online" for this room says the same.
    const s = st.joined.get(st.room);
    if (s && s.online !== st.online.size) { s.online = st.online.size; renderRooms(); }
  }

  function setConn(state) {
    if (!navigator.onLine) state = "offline";
    const was = st.conn;
    st.conn = state;
    const el = $("conn");
    el.dataset.state = state;
    el.textContent = state;
    if (state === "connected" && was !== "connected") onReconnected();
  }

  // ---- the rooms one is in: summaries, unread counts, read markers ------------------------
  const count = (n, more) => (more || n > 999 ? "999+" : String(n));
  const mentionsMe = (text) => {
    const at = "@" + st.user;
    for (let i = text.indexOf(at); i >= 0; i = text.indexOf(at, i + 1)) {
      const before = i > 0 ? text[i - 1] : " ", after = text.slice(i + at.length, i + at.length + 2);
      if (/[\p{L}\p{N}_-]/u.test(before)) continue;
      if (/^[\p{L}\p{N}_-]/u.test(after) || /^\.[\p{L}\p{N}_-]/u.test(after)) continue;
      return true;
    }
    return false;
  };

  function renderRooms() {
    const lists = { public: $("rooms"), private: $("private-rooms"), dm: $("dms") };
    for (const ul of Object.values(lists)) ul.replaceChildren();
    let total = 0;
    for (const r of [...st.joined.values()].sort((a, b) => label(a).localeCompare(label(b)))) {
      const ul = lists[r.kind] || lists.public;
      const li = document.createElement("li");
      li.dataset.room = r.name;
      const a = document.createElement("a");
      a.href = "#" + r.name;
      if (r.name === st.room) a.setAttribute("aria-current", "page");
      a.classList.toggle("unread", r.unread > 0);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = label(r);
      a.append(name);
      // Counts when there is something unread; who is online otherwise (the room's title).
      a.title = `${label(r)}: ${r.online} online`;
      if (!r.unread && !r.mentions) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = r.online + " online";
        a.append(badge);
      }
      if (r.mentions > 0) {
        const m = document.createElement("span");
        m.className = "mentions";
        m.textContent = "@" + count(r.mentions, r.mentions_more);
        m.title = r.mentions + " mentioning you";
        a.append(m);
      }
      if (r.unread > 0) {
        const u = document.createElement("span");
        u.className = "count";
        u.textContent = count(r.unread, r.unread_more);
        u.title = r.unread + " unread";
        a.append(u);
        total += r.unread;
      }
      li.append(a, button("leave", "✕", "Leave " + label(r), () => leaveRoom(r.name)));
      ul.append(li);
    }
    $("private-h").hidden = lists.private.childElementCount === 0;
    $("dms-h").hidden = lists.dm.childElementCount === 0;
    const more = $("more-rooms");
    more.replaceChildren();
    for (const r of st.others.filter((o) => !st.joined.has(o.name)).slice(0, 50)) {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = "# " + r.name;
      li.append(name, button("join", "Join", "Join #" + r.name, () => { location.hash = "#" + r.name; }));
      more.append(li);
    }
    $("more-h").hidden = more.childElementCount === 0;
    document.title = (total ? `(${total > 999 ? "999+" : total}) ` : "") + `#${st.room} · ssechat`;
    // On a phone the sidebar is closed: its button carries the totals.
    let mentions = 0;
    for (const r of st.joined.values()) mentions += r.mentions || 0;
    const menu = $("menu");
    menu.replaceChildren("Rooms");
    if (total) {
      const u = document.createElement("span");
      u.className = "count";
      u.textContent = count(total);
      menu.append(" ", u);
    }
    if (mentions) {
      const m = document.createElement("span");
      m.className = "mentions";
      m.textContent = "@" + count(mentions);
      menu.append(" ", m);
    }
    menu.setAttribute("aria-label", "Rooms" + (total ? `, ${total} unread` : "") +
      (mentions ? `, ${mentions} mentioning you` : ""));
  }

  // Every joined room's summary, exact from the server (counts are also kept up live).
  async function loadMyRooms() {
    try {
      const got = await getJSON("/me/rooms" + (userQuery() ? "?" + userQuery() : ""));
      st.joined = new Map(got.rooms.map((r) => [r.name, r]));
      if (st.joined.has(st.room)) st.joined.get(st.room).online = st.online.size || st.joined.get(st.room).online;
      renderRooms();
    } catch (e) { /* read again on the next event or tick */ }
  }
  function loadMyRoomsSoon() {
    clearTimeout(st.myRoomsTimer);
    st.myRoomsTimer = setTimeout(loadMyRooms, 300);
  }
  // Rooms with messages one is not in, to join from the list.
  async function refreshRooms() {
    try {
      const got = await getJSON("/rooms?limit=200");
      st.others = got.rooms;
      renderRooms();
    } catch (e) { /* the list refreshes again shortly */ }
  }

  function memberCall(method, room, suffix = "", body) {
    return apiCall(method, `/me/rooms/${encodeURIComponent(room)}${suffix}`, body);
  }
  async function leaveRoom(room) {
    const s = st.joined.get(room);
    if (!confirm(`Leave ${s ? label(s) : "#" + room}?`)) return;
    try {
      await memberCall("DELETE", room);
      st.joined.delete(room);
      renderRooms();
      if (room === st.room) location.hash = "#" + ([...st.joined.keys()][0] || "general");
    } catch (e) { notice("Could not leave #" + room + ": " + e.message); }
  }

  // The marker follows what was seen: the open room's newest event, while the page is visible
  // and scrolled to the bottom. Other devices clear their badge when the server says `read`.
  function markRead() {
    clearTimeout(st.markTimer);
    st.markTimer = setTimeout(async () => {
      const s = st.joined.get(st.room);
      if (!s || document.visibilityState !== "visible" || !atBottom()) return;
      const id = Math.max(st.lastEvent, s.last_id || 0);
      if (!id || id <= s.read) {
        if (s.unread) { s.unread = 0; s.mentions = 0; renderRooms(); }
        return;
      }
      const room = st.room;
      try {
        const got = await memberCall("PUT", room, "/read", { id });
        st.joined.set(room, { ...got, online: st.joined.get(room)?.online ?? got.online });
        renderRooms();
      } catch (e) { /* the next scroll or message tries again */ }
    }, 300);
  }

  // "Seen by": under one's own last message, who has read up to it.
  function renderSeen() {
    $("messages").querySelector("li.seen")?.remove();
    const mine = [...$("messages").querySelectorAll("li.msg.mine[data-id]")].pop();
    if (!mine) return;
    const id = Number(mine.dataset.id);
    const who = [...st.receipts].filter(([u, r]) => u !== st.user && r >= id).map(([u]) => accounts.nameOf(u)).sort();
    if (!who.length) return;
    const li = document.createElement("li");
    li.className = "seen";
    li.textContent = "Seen by " + (who.length > 5 ? who.slice(0, 5).join(", ") + ` and ${who.length - 5} more` : who.join(", "));
    mine.after(li);
  }
  async function loadReceipts() {
    const room = st.room;
    try {
      const got = await getJSON(`${roomPath(room)}/receipts${userQuery() ? "?" + userQuery() : ""}`);
      if (room !== st.room) return;
      st.receipts = new Map(Object.entries(got.receipts));
      renderSeen();
    } catch (e) { /* shown when the next receipt comes */ }
  }

  // Day separators, before the first message of each day; the "new messages" line stays.
  function decorate() {
    const list = $("messages");
    for (const d of list.querySelectorAll("li.day")) d.remove();
    let day = "";
    for (const li of list.querySelectorAll("li.msg")) {
      const d = new Date(Number(li.dataset.ts));
      const key = d.toDateString();
      if (key === day) continue;
      day = key;
      const sep = document.createElement("li");
      sep.className = "day";
      const today = new Date().toDateString();
      const yesterday = new Date(Date.now() - 864e5).toDateString();
      sep.textContent = key === today ? "Today" : key === yesterday ? "Yesterday"
        : d.toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
      li.before(sep);
      li.classList.remove("cont");
    }
    renderSeen();
  }

  // A desktop notification for a mention while the page is hidden (after the permission prompt).
  function notifyMention(m) {
    if (!document.hidden || !window.Notification || Notification.permission !== "granted") return;
    const n = new Notification(`${m.user_id} in #${m.room}`, { body: m.message, tag: `${m.room}:${m.id}` });
    n.onclick = () => { window.focus(); location.hash = "#" + m.room; n.close(); };
  }

  async function loadOlder() {
    if (st.loadingOlder || !st.hasMore || st.oldest === null) return;
    st.loadingOlder = true;
    $("older").hidden = false;
    const log = $("log");
    const before = log.scrollHeight;
    try {
      const room = st.room;
      const page = await getJSON(`${roomPath(room)}/messages?limit=50&include=member,room&before=${st.oldest}`);
      if (room !== st.room) return;
      page.messages.forEach(showItem);
      st.hasMore = page.has_more;
      decorate();
      log.scrollTop += log.scrollHeight - before;  // keep what the reader was looking at
    } catch (e) {
      notice("Could not load older messages: " + e.message);
    } finally {
      st.loadingOlder = false;
      $("older").hidden = true;
    }
  }

  // Who "@" may name in the open room: its members (read once per room), who is online, and
  // who wrote here; the reader last.
  async function roomPeople() {
    const room = st.room;
    if (st.peopleRoom !== room) {
      st.peopleRoom = room;
      st.people = [];
      try {
        const got = await apiCall("GET", roomPath(room) + "/members?limit=1000");
        if (room === st.room) st.people = got.members.map((m) => m.user_id);
      } catch (e) { /* the others still help */ }
    }
    const all = new Set(st.people);
    for (const u of st.online) all.add(u);
    for (const { m } of st.msgs.values()) all.add(m.user_id);
    all.delete(st.user);
    return [...all].sort();
  }

  // Opens a room at a message (a search result): older pages load until it is there.
  async function openAt(room, id) {
    st.jumpTo = { room, id };
    if (room !== st.room) { location.hash = "#" + room; return; }  // joinRoom() jumps at its end
    await jump();
  }
  async function jump() {
    const j = st.jumpTo;
    if (!j || j.room !== st.room) return;
    st.jumpTo = null;
    for (let n = 0; !st.msgs.has(j.id) && st.hasMore && n < 40; n++) {
      if (st.loadingOlder) await new Promise((r) => setTimeout(r, 50));
      else await loadOlder();
      if (j.room !== st.room) return;
    }
    const s = st.msgs.get(j.id);
    if (!s) { notice("That message is no longer here."); return; }
    s.li.scrollIntoView({ block: "center" });
    s.li.classList.add("flash");
    setTimeout(() => s.li.classList.remove("flash"), 1600);
    s.li.focus?.();
  }

  // ---- live events ----------------------------------------------------------------------
  function onEvent(msg) {
    if (msg.type === "state") {
      setConn(msg.state);
      // A stream that cannot connect may be a token that expired: /me says so.
      if (msg.state !== "connected" && st.auth !== "anonymous") getJSON("/me").catch(() => {});
      return;
    }
    let data;
    try { data = JSON.parse(msg.data); } catch { return; }
    const here = data && data.room === st.room;
    const sum = data && st.joined.get(data.room);
    // An event at or before the summary's last id is in its counts already.
    let fresh = false;
    if (sum && typeof data.id === "number" && ["message", "edit", "delete", "reaction"].includes(msg.type)) {
      fresh = data.id > (sum.last_id || 0);
      sum.last_id = Math.max(sum.last_id || 0, data.id);
    }
    if (here && typeof data.id === "number" && msg.type !== "read") st.lastEvent = Math.max(st.lastEvent, data.id);
    if (msg.type === "rooms") {
      st.joined = new Map(data.rooms.map((r) => [r.name, r]));
      renderRooms();
    } else if (msg.type === "message") {
      if (here) addMessage(data, true);
      // Their message is what they were typing: the line goes at once.
      if (here && st.typists.has(data.user_id)) typist(data.user_id, false);
      if (sum && fresh && data.user_id !== st.user && data.id > sum.read) {
        const seen = here && document.visibilityState === "visible" && atBottom();
        if (!seen) {
          sum.unread++;
          if (mentionsMe(data.message || "")) { sum.mentions++; notifyMention(data); }
        }
        renderRooms();
      }
      if (here) markRead();
    } else if (msg.type === "typing") {
      if (here && data.user_id !== st.user) typist(data.user_id, data.typing);
    } else if (msg.type === "edit" || msg.type === "delete" || msg.type === "reaction") {
      if (here) applyChange(msg.type, data);
      if (msg.type === "delete" && sum) loadMyRoomsSoon();  // a deleted message is unread no more
    } else if (msg.type === "presence") {
      if (sum && typeof data.online === "number") { sum.online = data.online; renderRooms(); }
      if (!here) return;
      // After a server restart every stream joins again: a user already shown online is not
      // announced twice.
      const known = st.online.has(data.user_id);
      if (data.state === "join") st.online.add(data.user_id);
      else st.online.delete(data.user_id);
      if (data.user_id !== st.user && known !== (data.state === "join"))
        notice(`${accounts.nameOf(data.user_id)} ${data.state === "join" ? "joined" : "left"}`);
      renderOnline();
    } else if (msg.type === "receipt") {
      if (here) { st.receipts.set(data.user_id, data.id); renderSeen(); }
    } else if (msg.type === "read") {
      // Another device (or tab) moved the marker: its counts are the server's.
      if (sum && data.id > sum.read) loadMyRoomsSoon();
    } else if (msg.type === "member" || msg.type === "room") {
      if (here) {
        rulesLine(msg.type, data);
        if (msg.type === "room") loadProfile(st.room);
        else if (!$("members-panel").hidden || data.user_id === st.user) loadProfile(st.room);
      }
      if (msg.type === "room") loadMyRoomsSoon();
    } else if (msg.type === "left" && data.reason && data.reason !== "left" && data.by !== st.user) {
      // Someone else took this user out: say who, and the room leaves the sidebar.
      const s = st.joined.get(data.room);
      const what = s ? label(s) : "#" + data.room;
      const said = `You were ${data.reason === "banned" ? "banned from" : "removed from"} ${what} by ${data.by}`;
      st.joined.delete(data.room);
      renderRooms();
      loadMyRoomsSoon();
      if (data.room === st.room && (data.reason !== "banned" || st.profile?.visibility !== "public")) {
        st.carried = said;  // shown in the room the page goes to
        location.hash = "#general";
      } else {
        notice(said);
      }
    } else if (msg.type === "joined" || msg.type === "left") {
      loadMyRoomsSoon();
    } else if (msg.type === "reset") {
      // A cursor the server could not read ({"room":null}), or a room whose history no
      // longer reaches back: read what is there again.
      if (data.room === null || here) { loadMyRoomsSoon(); if (st.room) joinRoom(st.room); }
      else loadMyRoomsSoon();
    }
  }

  // A SharedWorker when the browser has one (one stream for every tab), else a direct stream.
  // Either way it is the user stream: every joined room on one connection.
  function openChannel() {
    if (window.SharedWorker) {
      const w = new SharedWorker("/worker.js", { name: "ssechat" });
      w.port.onmessage = (e) => onEvent(e.data);
      w.port.start();
      return {
        subscribe: (user) => w.port.postMessage({ type: "subscribe", user, token: st.token,
          anonymous: st.auth === "anonymous" }),
        close: () => w.port.postMessage({ type: "unsubscribe" }),
      };
    }
    let es = null;
    return {
      subscribe() {
        if (es) es.close();
        const q = [userQuery(), st.token ? "token=" + encodeURIComponent(st.token) : ""].filter(Boolean);
        es = new EventSource("/me/events" + (q.length ? "?" + q.join("&") : ""));
        es.onopen = () => onEvent({ type: "state", state: "connected" });
        es.onerror = () => onEvent({ type: "state", state: es.readyState === 2 ? "offline" : "reconnecting" });
        for (const t of ["rooms", "message", "edit", "delete", "reaction", "typing", "presence", "receipt", "read", "joined", "left", "reset", "member", "room"])
          es.addEventListener(t, (ev) => onEvent({ type: t, data: ev.data }));
      },
      close() { if (es) es.close(); },
    };
  }

  // ---- typing -----------------------------------------------------------------------------
  // Who else is typing here, under the messages. The server says when someone stops, or
  // their typing lapses; the page forgets them after 8 s anyway, in case that is lost.
  function typist(user, on) {
    clearTimeout(st.typists.get(user));
    if (on) st.typists.set(user, setTimeout(() => typist(user, false), 8000));
    else st.typists.delete(user);
    const names = [...st.typists.keys()].sort().map(accounts.nameOf);
    $("typing").textContent = names.length === 0 ? ""
      : names.length === 1 ? `${names[0]} is typing…`
      : names.length === 2 ? `${names[0]} and ${names[1]} are typing…`
      : "Several people are typing…";
  }
  // Says "typing" at most every 3 s while the box has text (the server lets it lapse after
  // 6 s), and "stopped" once when it empties or the message goes.
  function sayTyping(on) {
    const now = Date.now();
    if (on ? now - st.typingSaid < 3000 : !st.typingSaid) return;
    st.typingSaid = on ? now : 0;
    const q = userQuery();
    fetch(`${roomPath(st.room)}/typing${q ? "?" + q : ""}`, {
      method: "POST", headers: authHeaders({ "Content-Type": "application/json" }),
      body: JSON.stringify({ typing: on }),
    }).catch(() => {});
  }

  // Joining a room reads who is online, and so does the stream's (re)connect, which on a
  // join happens at the same moment: one read serves both when they come within a second.
  function loadPresence() {
    const room = st.room, p = st.presence;
    if (p && p.room === room && (p.pending || Date.now() - p.at < 1000)) return p.promise;
    const entry = { room, pending: true, at: 0 };
    entry.promise = getJSON(`${roomPath(room)}/presence`).then((presence) => {
      if (room !== st.room) return;
      st.online = new Set(presence.online);
      // The reader is here: their own stream's join may reach the server just after this
      // read (a room opened by its link), and their own presence event never reaches them.
      if (st.user) st.online.add(st.user);
      renderOnline();
    }).finally(() => { entry.pending = false; entry.at = Date.now(); });
    st.presence = entry;
    return entry.promise;
  }

  async function joinRoom(room) {
    if (!ROOM_RE.test(room) || room === "." || room === "..") room = "general";
    st.room = room;
    st.ids = new Set();
    st.msgs = new Map();
    st.lastEvent = 0;
    st.receipts = new Map();
    st.presence = null;  // who is online is read afresh for every join (a rename is one too)
    for (const t of st.typists.values()) clearTimeout(t);
    st.typists = new Map();
    $("typing").textContent = "";
    if (st.typingSaid) sayTyping(false);
    cancelMode();
    window.ssechatFiles.clear();  // an upload belongs to the room it was made in
    st.oldest = null;
    st.hasMore = true;
    st.online = new Set();
    $("messages").replaceChildren();
    if (st.carried) { notice(st.carried); st.carried = ""; }
    $("title").textContent = "# " + room;
    $("topic").hidden = true;
    st.profile = null;
    $("members-panel").hidden = true;
    $("app").classList.remove("panel-open");
    $("members-btn").setAttribute("aria-expanded", "false");
    $("text").placeholder = "Message #" + room;
    if (location.hash !== "#" + room) history.replaceState(null, "", "#" + room);
    renderRooms();
    $("text").focus();
    try {
      // Opening a room joins it (the user stream then carries it); the marker it had says
      // where the unread messages start.
      let s = st.joined.get(room);
      if (!s) {
        s = await memberCall("PUT", room);
        if (room !== st.room) return;
        st.joined.set(room, s);
        renderRooms();
        loadMyRoomsSoon();  // events of the join may have come before this answer
      }
      const marker = s.read;
      loadProfile(room);
      const page = await getJSON(`${roomPath(room)}/messages?limit=50&include=member,room`);
      if (room !== st.room) return;
      page.messages.forEach(showItem);
      st.hasMore = page.has_more;
      if (!page.messages.length) {
        const li = document.createElement("li");
        li.className = "empty-room";
        li.textContent = `No messages in ${$("title").textContent} yet. Say hello!`;
        $("messages").append(li);
      }
      const first = page.messages.find((m) => m.kind === "message" && m.id > marker && m.user_id !== st.user);
      if (first && st.msgs.get(first.id)) {
        const line = document.createElement("li");
        line.className = "unread-line";
        line.textContent = "New messages";
        st.msgs.get(first.id).li.before(line);
        regroup(st.msgs.get(first.id).li);  // the line breaks a group: the author shows again
      }
      decorate();
      await Promise.all([loadPresence(), loadReceipts()]);
      const line = $("messages").querySelector("li.unread-line");
      if (line) line.scrollIntoView({ block: "center" });
      else scrollToBottom();
      markRead();
      if (st.jumpTo) await jump();
    } catch (e) {
      if (e.status !== 401) notice("Could not open #" + room + ": " + e.message);
    }
    refreshRooms();
  }

  // ---- room rules: profiles, members, roles, direct messages ----------------------------
  // The open room's profile: its name and topic in the header, and this user's role (what
  // the members panel offers). A room nobody made yet has none.
  async function loadProfile(room) {
    try {
      const p = await getJSON(roomPath(room) + (userQuery() ? "?" + userQuery() : ""));
      if (room !== st.room) return;
      st.profile = p;
      const s = st.joined.get(room);
      $("title").textContent = p.visibility === "dm" && s ? label(s)
        : (p.visibility === "private" ? "🔒 " : "# ") + p.name;
      $("topic").textContent = p.topic || "";
      $("topic").hidden = !p.topic;
      $("text").placeholder = "Message " + $("title").textContent;
      if (!$("members-panel").hidden) loadMembers();
      st.msgs.forEach((x) => render(x.li, x.m));  // delete buttons follow the role
    } catch (e) {
      if (room === st.room) st.profile = null;
    }
  }
  async function loadMembers() {
    const room = st.room;
    try {
      const got = await apiCall("GET", roomPath(room) + "/members?limit=1000");
      if (room !== st.room) return;
      st.members = got.members;
    } catch (e) { st.members = []; }
    const ul = $("members");
    ul.replaceChildren();
    const mod = canModerate(), owner = myRank() >= 3 && st.profile.visibility !== "dm";
    for (const m of st.members) {
      const li = document.createElement("li");
      li.dataset.user = m.user_id;
      const who = document.createElement("span");
      who.className = "author";
      accounts.showUser(who, m.user_id);
      who.addEventListener("click", (e) => openNameMenu(m.user_id, e.currentTarget));
      const role = document.createElement("span");
      role.className = "role";
      role.textContent = m.role;
      li.append(who, role);
      const mine = m.user_id === st.user;
      if (!mine && mod && (m.role !== "owner" || owner)) {
        li.append(button("kick", "Remove", "Remove " + m.user_id, () => actOn("DELETE", "members", m.user_id)),
          button("ban", "Ban", "Ban " + m.user_id, () => actOn("PUT", "bans", m.user_id)),
          button("mute", "Mute", "Mute " + m.user_id, () => actOn("PUT", "mutes", m.user_id)));
      }
      if (!mine && owner && m.role === "member")
        li.append(button("promote", "Make moderator", "Make " + m.user_id + " a moderator",
          () => actOn("PUT", "members", m.user_id, { role: "moderator" })));
      ul.append(li);
    }
    $("invite-form").hidden = !mod;
  }
  async function actOn(method, what, user, body) {
    try {
      await apiCall(method, `${roomPath(st.room)}/${what}/${encodeURIComponent(user)}`, body);
      loadMembers();
    } catch (e) { notice(`Could not change ${user}: ${e.message}`); }
  }
  // An item of a history page: a message, or the record of a change of the room.
  function showItem(m) {
    if (m.kind === "member" || m.kind === "room") {
      rulesLine(m.kind, m);
      if (st.oldest === null || m.id < st.oldest) st.oldest = m.id;
    } else {
      addMessage(m, false);
    }
  }
  // A quiet line in the timeline for a change of the room: "alice added bob". Once per id:
  // a history page and the live stream may both bring one.
  function rulesLine(kind, d) {
    if (typeof d.id === "number") {
      if (st.ids.has(d.id)) return;
      st.ids.add(d.id);
    }
    const who = accounts.nameOf(d.user_id), by = accounts.nameOf(d.by);
    const said = {
      joined: "joined", left: "left", added: `added ${who}`, removed: `removed ${who}`,
      banned: `banned ${who}`, unbanned: `let ${who} back in`, muted: `muted ${who}`,
      unmuted: `unmuted ${who}`, role: `made ${who} ${d.role}`,
    };
    let text;
    if (kind === "room") text = `${by} set the room to “${d.name || st.room}”${d.topic ? " — " + d.topic : ""}`;
    else if (d.action === "joined" || d.action === "left") text = `${who} ${said[d.action]}`;
    else text = `${by} ${said[d.action] || d.action}`;
    const li = document.createElement("li");
    li.className = "rules";
    li.textContent = text;
    li.dataset.ts = String(d.ts || Date.now());
    const stick = atBottom();
    place(li, d.id || Infinity, d.ts || Date.now());
    if (stick) scrollToBottom();
  }
  // Clicking a name offers a direct message with that person.
  function openNameMenu(user, anchor) {
    const menu = $("name-menu");
    const r = anchor.getBoundingClientRect();
    menu.style.left = Math.round(r.left) + "px";
    menu.style.top = Math.round(r.bottom + 4) + "px";
    menu.dataset.user = user;
    $("name-menu-dm").textContent = user === st.user ? "Notes to self" : "Message " + user;
    menu.hidden = false;
    $("name-menu-dm").focus();
  }
  async function openDm(user) {
    $("name-menu").hidden = true;
    try {
      const s = await apiCall("PUT", "/me/dms/" + encodeURIComponent(user));
      st.joined.set(s.name, s);
      renderRooms();
      location.hash = "#" + s.name;
    } catch (e) { notice(`Could not message ${user}: ${e.message}`); }
  }
  async function createRoom() {
    const err = $("new-room-error");
    const visibility = document.querySelector("#new-room-form input[name=visibility]:checked").value;
    try {
      const p = await apiCall("POST", "/rooms", {
        visibility, name: $("new-room-name").value.trim(), topic: $("new-room-topic").value.trim(),
      });
      err.hidden = true;
      $("new-room-form").reset();
      $("new-room").open = false;
      await loadMyRooms();
      location.hash = "#" + p.room;
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    }
  }

  // ---- sending --------------------------------------------------------------------------
  // Every send carries an Idempotency-Key, the same on each retry: a send whose answer was
  // lost (a timeout, a dropped connection) is answered with the stored message, never stored
  // twice.
  async function send(text, li) {
    li.classList.add("pending");
    li.classList.remove("failed");
    li.querySelector(".error")?.remove();
    const room = st.room;
    const q = userQuery();
    if (!li.dataset.idem) li.dataset.idem = crypto.randomUUID();
    try {
      const r = await fetch(`${roomPath(room)}/messages${q ? "?" + q : ""}`, {
        method: "POST",
        headers: authHeaders({ "Content-Type": "application/json", "Idempotency-Key": li.dataset.idem }),
        body: JSON.stringify({
          message: text,
          ...(li.dataset.reply ? { reply_to: Number(li.dataset.reply) } : {}),
          ...(li.dataset.files ? { files: JSON.parse(li.dataset.files) } : {}),
        }),
        signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
      });
      const body = await r.json().catch(() => ({}));
      if (r.status === 401) signInAgain(body.error);
      if (r.status !== 201 && r.status !== 200) throw new HttpError(r.status, body.error || `HTTP ${r.status}`);
      li.remove();
      if (room === st.room) addMessage(body, true);
    } catch (e) {
      // Refused for good (not a lost connection, a timeout or a rate limit): a retry cannot
      // work, so the text goes back into the box to be changed, and the placeholder goes.
      if (e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429) {
        li.remove();
        if (!$("text").value) { $("text").value = text; autosize(); countBytes(); }
        notice(`Not sent: ${e.message}. It is back in the box.`);
        return;
      }
      li.classList.remove("pending");
      li.classList.add("failed");
      const err = document.createElement("div");
      err.className = "error";
      // Offline, it goes by itself when the connection is back (onReconnected): say that,
      // not the browser's "Failed to fetch".
      const offline = !navigator.onLine || st.conn !== "connected" || e instanceof TypeError;
      err.textContent = offline ? "Waiting for the connection; it will be sent then. "
        : "Not sent: " + (e.name === "TimeoutError" ? "no answer in 10 s" : e.message);
      const retry = document.createElement("button");
      retry.type = "button";
      retry.className = "retry";
      retry.textContent = "Retry";
      retry.addEventListener("click", () => send(text, li));
      if (!offline) err.append(retry);  // offline it goes by itself: nothing to press
      li.append(err);
    }
  }

  // Back online: sends that failed meanwhile go again by themselves, and who is online is read
  // afresh (leaves are lost when a server restarts).
  function onReconnected() {
    for (const li of $("messages").querySelectorAll("li.failed")) send(li.dataset.text, li);
    if (st.room) loadPresence().catch(() => {});
    loadMyRooms();
  }

  // What the server counts: UTF-8 bytes of the trimmed text.
  const bytes = (text) => new TextEncoder().encode(text.trim()).length;
  function countBytes() {
    const n = bytes($("text").value), left = MAX_BYTES - n;
    const el = $("count");
    el.hidden = left > 500;
    el.textContent = left >= 0 ? `${left} bytes left` : `${-left} bytes too long`;
    el.classList.toggle("over", left < 0);
    $("send").disabled = window.ssechatFiles.busy();
  }
  function submit() {
    const ta = $("text");
    const text = ta.value.trim();
    const files = st.editing ? [] : window.ssechatFiles.ready();
    if (!text && !files.length) return;
    if (window.ssechatFiles.busy()) { notice("Wait for the uploads to finish, then send."); return; }
    if (bytes(text) > MAX_BYTES) {
      // Refused here, whole: nothing is cut, and the box keeps it to shorten.
      notice(`That message is ${bytes(text)} bytes; the most is ${MAX_BYTES}. Shorten it, or send it in parts.`);
      return;
    }
    ta.value = "";
    autosize();
    countBytes();
    sayTyping(false);
    if (st.editing) {
      const id = st.editing;
      cancelMode();
      saveEdit(id, text);
      return;
    }
    const reply = st.replyTo;
    cancelMode();
    const described = files.length ? window.ssechatFiles.take() : [];
    const li = messageNode({ user_id: st.user, message: text, reply_to: reply, files: described });
    li.dataset.key = st.user + "\n" + text;
    li.dataset.text = text;
    if (files.length) li.dataset.files = JSON.stringify(files);
    if (reply) li.dataset.reply = String(reply);
    $("messages").append(li);
    regroup(li);  // a pending message continues its author's group at once
    scrollToBottom();
    send(text, li);
  }

  function autosize() {
    const ta = $("text");
    ta.style.height = "auto";
    ta.style.height = ta.scrollHeight + 2 + "px";  // the CSS max-height caps it at eight lines
  }

  // ---- wiring ---------------------------------------------------------------------------
  async function rename(n) {
    if (!n || n === st.user) return;
    st.user = n;
    $("name").value = n;
    renderOnline();
    st.channel.subscribe(n);
    await loadMyRooms();
    joinRoom(st.room);
  }

  async function enter() {
    if (!(await identify())) return;
    hideGate();
    if (!st.channel) st.channel = openChannel();
    st.channel.subscribe(st.user);
    await loadMyRooms();
    joinRoom(decodeURIComponent(location.hash.slice(1)) || "general");
  }

  async function start() {
    // Accounts first: their gate, and the names shown for ids.
    await accounts.setup(() => enter());
    window.addEventListener("ssechat:signed-out", () => {
      if (st.channel) st.channel.close();
      setConn("offline");
    });
    st.token = takeTokenFromUrl() || localStorage.getItem("ssechat.token") || "";
    if (st.token) localStorage.setItem("ssechat.token", st.token);
    $("gate-name").addEventListener("submit", (e) => {
      e.preventDefault();
      const n = $("gate-name-input").value.trim();
      if (!n) return;
      localStorage.setItem("ssechat.name", n);
      enter();
    });
    $("gate-token").addEventListener("submit", (e) => {
      e.preventDefault();
      st.token = $("gate-token-input").value.trim();
      if (!st.token) return;
      localStorage.setItem("ssechat.token", st.token);
      $("gate-token-input").value = "";
      enter();
    });
    $("sign-out").addEventListener("click", () => {
      localStorage.removeItem("ssechat.token");
      st.token = "";
      st.channel.close();
      showGate("token", "Signed out.");
    });
    // The room is in the URL's hash, so the skip link moves focus itself instead of by #id.
    $("skip").addEventListener("click", (e) => { e.preventDefault(); $("text").focus(); });
    $("name-form").addEventListener("submit", (e) => e.preventDefault());
    $("name").addEventListener("change", () => {
      const n = $("name").value.trim();
      if (!n || n === st.user) return;
      localStorage.setItem("ssechat.name", n);
      rename(n);
    });
    // A rename in another tab of this browser applies here too: one person, one name.
    window.addEventListener("storage", (e) => {
      if (e.key === "ssechat.name" && e.newValue && st.auth === "anonymous") rename(e.newValue);
    });
    $("join-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const r = $("join").value.trim();
      const err = $("join-error");
      if (!ROOM_RE.test(r) || r === "." || r === "..") {
        err.textContent = ROOM_RULE;
        err.hidden = false;
        return;
      }
      err.hidden = true;
      $("join").value = "";
      location.hash = "#" + r;
    });
    window.addEventListener("hashchange", () => {
      const r = decodeURIComponent(location.hash.slice(1));
      if (r && r !== st.room && st.channel) joinRoom(r);
      $("side").classList.remove("open");
      $("menu").setAttribute("aria-expanded", "false");
    });
    $("composer").addEventListener("submit", (e) => { e.preventDefault(); submit(); });
    $("text").addEventListener("input", countBytes);
    // A paste that would pass the limit is refused whole, with a word: never cut.
    $("text").addEventListener("paste", (e) => {
      const pasted = e.clipboardData?.getData("text/plain");
      if (!pasted) return;
      const t = $("text"), next = t.value.slice(0, t.selectionStart) + pasted + t.value.slice(t.selectionEnd);
      if (bytes(next) <= MAX_BYTES) return;
      e.preventDefault();
      notice(`Not pasted: it would make the message ${bytes(next)} bytes; the most is ${MAX_BYTES}. Send it as a file instead.`);
    });
    $("messages").addEventListener("keydown", onTimelineKey);
    $("messages").addEventListener("focusin", (e) => {
      const li = e.target.closest("li.msg");
      if (li) { rove(li, true); }
    });
    $("messages").addEventListener("focusout", (e) => {
      const li = e.target.closest("li.msg");
      if (li && !li.contains(e.relatedTarget)) rove(li);
    });
    window.ssechatMentions.setup({ nameOf: accounts.nameOf, people: roomPeople });
    window.ssechatSearch.setup({
      getJSON, query: userQuery, open: openAt, nameOf: accounts.nameOf,
      roomLabel: (room) => { const s = st.joined.get(room); return s ? label(s) : "# " + room; },
    });
    window.ssechatPush.setup({ apiCall, getJSON, openAt, signedIn: () => st.auth !== "anonymous" });
    window.ssechatFiles.setup({
      room: () => st.room, auth: () => authHeaders(), query: userQuery, onChange: countBytes,
    });
    $("text").addEventListener("keydown", (e) => {
      if (window.ssechatMentions.key(e)) return;
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
      else if (e.key === "Escape" && (st.editing || st.replyTo)) { e.preventDefault(); cancelMode(); }
      else if (e.key === "ArrowUp" && !$("text").value && !st.editing) {
        const id = lastOwn();
        if (id) { e.preventDefault(); startEdit(id); }
      }
    });
    $("composer-cancel").addEventListener("click", () => { cancelMode(); $("text").focus(); });
    $("new-room-form").addEventListener("submit", (e) => { e.preventDefault(); createRoom(); });
    $("members-btn").addEventListener("click", () => {
      const open = $("members-panel").hidden;
      $("members-panel").hidden = !open;
      $("app").classList.toggle("panel-open", open);
      $("members-btn").setAttribute("aria-expanded", String(open));
      if (open) loadMembers();
    });
    $("invite-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const u = $("invite").value.trim();
      if (!u) return;
      $("invite").value = "";
      actOn("PUT", "members", u);
    });
    $("name-menu-dm").addEventListener("click", () => openDm($("name-menu").dataset.user));
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") $("name-menu").hidden = true; });
    document.addEventListener("click", (e) => {
      if (!e.target.closest("#name-menu, .author")) $("name-menu").hidden = true;
    });
    document.addEventListener("click", (e) => {
      if ($("picker") && !e.target.closest("#picker, .act.react")) closePicker();
    });
    $("text").addEventListener("input", () => {
      autosize();
      if (!st.editing) sayTyping($("text").value.trim() !== "");
    });
    $("log").addEventListener("scroll", () => {
      if ($("log").scrollTop < 60) loadOlder();
      if (atBottom()) { $("new-marker").hidden = true; markRead(); }
    });
    $("new-marker").addEventListener("click", scrollToBottom);
    $("menu").addEventListener("click", () => {
      const open = $("side").classList.toggle("open");
      $("menu").setAttribute("aria-expanded", String(open));
    });
    window.addEventListener("online", () => setConn("reconnecting"));
    window.addEventListener("offline", () => setConn("offline"));
    window.addEventListener("pagehide", () => st.channel && st.channel.close());
    setInterval(() => { if (st.channel) { refreshRooms(); loadMyRooms(); } }, 10000);
    // Seen: back to the page, or scrolled to the bottom, the marker moves.
    document.addEventListener("visibilitychange", () => { if (!document.hidden) markRead(); });
    $("notify").addEventListener("click", async () => {
      if (window.Notification) await Notification.requestPermission();
      $("notify").hidden = !window.Notification || Notification.permission !== "default";
    });
    $("notify").hidden = !window.Notification || Notification.permission !== "default";
    enter().catch((e) => { setConn("offline"); notice("Could not reach the server: " + e.message); });
  }
  start().catch((e) => notice("Could not start: " + e.message));
})();
