// ssechat web client: sign-in (a name, or a token), rooms, history, live events through a
// shared worker, presence, and a composer that never loses what was typed. User text only
// ever goes into textContent.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const ROOM_RE = /^[A-Za-z0-9_.-]{1,64}$/;
  const ROOM_RULE = "Room names are 1 to 64 of the letters A-Z and a-z, digits, _ . and -.";
  const URL_RE = /\bhttps?:\/\/[^\s<>"']+/g;
  const GROUP_MS = 5 * 60 * 1000;    // consecutive messages of one author within this share a header
  const SEND_TIMEOUT_MS = 10000;     // a pending send turns into "Not sent" with Retry after this

  const st = {
    user: "", token: "", auth: "", room: "",  // auth: "" until /me answers ids: new Set(), oldest: null, hasMore: true,
    loadingOlder: false, online: new Set(), channel: null, roomsTimer: 0, conn: "offline",
    expiryTimer: 0,
  };

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
    if (which === "token") $("gate-token-why").textContent = why || "";
    $(which === "name" ? "gate-name-input" : "gate-token-input").focus();
  }
  function hideGate() {
    $("gate").hidden = true;
  }

  // A 401 after sign-in means the token expired or was revoked: ask again, say why.
  function signInAgain(why) {
    if (st.auth === "anonymous") return;
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
      if (e.status === 401) return false;  // the gate is showing
      throw e;
    }
    st.auth = me.auth;
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
      $("signed-in-user").textContent = me.user_id;
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
  function linkify(parent, text) {
    let last = 0;
    for (const m of text.matchAll(URL_RE)) {
      if (m.index > last) parent.append(document.createTextNode(text.slice(last, m.index)));
      const a = document.createElement("a");
      a.href = m[0];            // only http(s) matches the pattern
      a.textContent = m[0];
      a.rel = "noopener noreferrer nofollow";
      a.target = "_blank";
      parent.append(a);
      last = m.index + m[0].length;
    }
    if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
  }

  function messageNode(m) {
    const li = document.createElement("li");
    li.className = "msg" + (m.user_id === st.user ? " mine" : "");
    if (m.id) li.dataset.id = String(m.id);
    li.dataset.user = m.user_id;
    li.dataset.ts = String(m.ts || Date.now());
    const meta = document.createElement("div");
    meta.className = "meta";
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = m.user_id;
    const time = document.createElement("time");
    const d = new Date(m.ts || Date.now());
    time.dateTime = d.toISOString();
    time.textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    meta.append(author, time);
    const body = document.createElement("div");
    body.className = "text";
    linkify(body, m.message);
    li.append(meta, body);
    return li;
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
    st.ids.add(m.id);
    if (st.oldest === null || m.id < st.oldest) st.oldest = m.id;
    const list = $("messages");
    // My own message arriving replaces its placeholder: pending, or failed when the answer was
    // lost although the server stored it (a retry of it would be answered from its key anyway).
    const key = CSS.escape(m.user_id + "\n" + m.message);
    const mine = list.querySelector(`li.pending[data-key="${key}"], li.failed[data-key="${key}"]`);
    if (mine && m.user_id === st.user) mine.remove();
    const stick = atBottom();
    place(messageNode(m), m.id, m.ts || Date.now());
    if (live) {
      if (stick || m.user_id === st.user) scrollToBottom();
      else $("new-marker").hidden = false;
    }
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
      li.textContent = u + (u === st.user ? " (you)" : "");
      ul.append(li);
    }
    $("online-count").textContent = String(st.online.size);
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

  async function refreshRooms() {
    try {
      // Paged by name; the sidebar shows the first few pages, not a server's every room.
      const rooms = [];
      let next = null;
      for (let page = 0; page < 5; page++) {
        const got = await getJSON("/rooms?limit=200" + (next ? "&cursor=" + encodeURIComponent(next) : ""));
        rooms.push(...got.rooms);
        next = got.next;
        if (!next) break;
      }
      if (!rooms.some((r) => r.name === st.room)) rooms.push({ name: st.room, online: st.online.size });
      const ul = $("rooms");
      ul.replaceChildren();
      for (const r of rooms.sort((a, b) => a.name.localeCompare(b.name))) {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = "#" + r.name;
        if (r.name === st.room) a.setAttribute("aria-current", "page");
        const name = document.createElement("span");
        name.textContent = "# " + r.name;
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = r.online + " online";
        a.append(name, badge);
        li.append(a);
        ul.append(li);
      }
    } catch (e) { /* the list refreshes again shortly */ }
  }

  async function loadOlder() {
    if (st.loadingOlder || !st.hasMore || st.oldest === null) return;
    st.loadingOlder = true;
    $("older").hidden = false;
    const log = $("log");
    const before = log.scrollHeight;
    try {
      const room = st.room;
      const page = await getJSON(`${roomPath(room)}/messages?limit=50&before=${st.oldest}`);
      if (room !== st.room) return;
      page.messages.forEach((m) => addMessage(m, false));
      st.hasMore = page.has_more;
      log.scrollTop += log.scrollHeight - before;  // keep what the reader was looking at
    } catch (e) {
      notice("Could not load older messages: " + e.message);
    } finally {
      st.loadingOlder = false;
      $("older").hidden = true;
    }
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
    if (msg.type === "message") {
      if (data.room === st.room) addMessage(data, true);
    } else if (msg.type === "presence") {
      // After a server restart every stream joins again: a user already shown online is not
      // announced twice.
      const known = st.online.has(data.user_id);
      if (data.state === "join") st.online.add(data.user_id);
      else st.online.delete(data.user_id);
      if (data.user_id !== st.user && known !== (data.state === "join"))
        notice(`${data.user_id} ${data.state === "join" ? "joined" : "left"}`);
      renderOnline();
      clearTimeout(st.roomsTimer);
      st.roomsTimer = setTimeout(refreshRooms, 500);  // the counts in the room list follow
    } else if (msg.type === "reset") {
      notice("Some older messages are no longer available.");
    }
  }

  // A SharedWorker when the browser has one (one stream for every tab), else a direct stream.
  function openChannel() {
    if (window.SharedWorker) {
      const w = new SharedWorker("/worker.js", { name: "ssechat" });
      w.port.onmessage = (e) => onEvent(e.data);
      w.port.start();
      return {
        subscribe: (room, user) => w.port.postMessage({ type: "subscribe", room, user, token: st.token,
          anonymous: st.auth === "anonymous" }),
        close: () => w.port.postMessage({ type: "unsubscribe" }),
      };
    }
    let es = null;
    return {
      subscribe(room) {
        if (es) es.close();
        let url = `${roomPath(room)}/events?history=0&${userQuery()}`;
        if (st.token) url += "&token=" + encodeURIComponent(st.token);
        es = new EventSource(url);
        es.onopen = () => onEvent({ type: "state", state: "connected" });
        es.onerror = () => onEvent({ type: "state", state: es.readyState === 2 ? "offline" : "reconnecting" });
        for (const t of ["message", "presence", "reset"]) es.addEventListener(t, (ev) => onEvent({ type: t, data: ev.data }));
      },
      close() { if (es) es.close(); },
    };
  }

  async function loadPresence() {
    const room = st.room;
    const presence = await getJSON(`${roomPath(room)}/presence`);
    if (room !== st.room) return;
    st.online = new Set(presence.online);
    renderOnline();
  }

  async function joinRoom(room) {
    if (!ROOM_RE.test(room) || room === "." || room === "..") room = "general";
    st.room = room;
    st.ids = new Set();
    st.oldest = null;
    st.hasMore = true;
    st.online = new Set();
    $("messages").replaceChildren();
    $("title").textContent = "# " + room;
    $("text").placeholder = "Message #" + room;
    document.title = `#${room} · ssechat`;
    if (location.hash !== "#" + room) history.replaceState(null, "", "#" + room);
    setConn("reconnecting");
    $("text").focus();
    // Subscribe first, then read history: whatever commits in between arrives live, and ids
    // remove the overlap.
    st.channel.subscribe(room, st.user);
    try {
      const page = await getJSON(`${roomPath(room)}/messages?limit=50`);
      if (room !== st.room) return;
      page.messages.forEach((m) => addMessage(m, false));
      st.hasMore = page.has_more;
      await loadPresence();
      scrollToBottom();
    } catch (e) {
      if (e.status !== 401) notice("Could not load history: " + e.message);
    }
    refreshRooms();
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
        body: JSON.stringify({ message: text }),
        signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
      });
      const body = await r.json().catch(() => ({}));
      if (r.status === 401) signInAgain(body.error);
      if (r.status !== 201 && r.status !== 200) throw new Error(body.error || `HTTP ${r.status}`);
      li.remove();
      if (room === st.room) addMessage(body, true);
    } catch (e) {
      li.classList.remove("pending");
      li.classList.add("failed");
      const err = document.createElement("div");
      err.className = "error";
      err.textContent = "Not sent: " + (e.name === "TimeoutError" ? "no answer in 10 s" : e.message);
      const retry = document.createElement("button");
      retry.type = "button";
      retry.className = "retry";
      retry.textContent = "Retry";
      retry.addEventListener("click", () => send(text, li));
      err.append(retry);
      li.append(err);
    }
  }

  // Back online: sends that failed meanwhile go again by themselves, and who is online is read
  // afresh (leaves are lost when a server restarts).
  function onReconnected() {
    for (const li of $("messages").querySelectorAll("li.failed")) send(li.dataset.text, li);
    if (st.room) loadPresence().catch(() => {});
  }

  function submit() {
    const ta = $("text");
    const text = ta.value.trim();
    if (!text) return;
    ta.value = "";
    autosize();
    const li = messageNode({ user_id: st.user, message: text });
    li.dataset.key = st.user + "\n" + text;
    li.dataset.text = text;
    $("messages").append(li);
    scrollToBottom();
    send(text, li);
  }

  function autosize() {
    const ta = $("text");
    ta.style.height = "auto";
    ta.style.height = ta.scrollHeight + 2 + "px";  // the CSS max-height caps it at eight lines
  }

  // ---- wiring ---------------------------------------------------------------------------
  function rename(n) {
    if (!n || n === st.user) return;
    st.user = n;
    $("name").value = n;
    renderOnline();
    joinRoom(st.room);
  }

  async function enter() {
    if (!(await identify())) return;
    hideGate();
    if (!st.channel) st.channel = openChannel();
    joinRoom(decodeURIComponent(location.hash.slice(1)) || "general");
  }

  function start() {
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
    $("text").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    });
    $("text").addEventListener("input", autosize);
    $("log").addEventListener("scroll", () => {
      if ($("log").scrollTop < 60) loadOlder();
      if (atBottom()) $("new-marker").hidden = true;
    });
    $("new-marker").addEventListener("click", scrollToBottom);
    $("menu").addEventListener("click", () => {
      const open = $("side").classList.toggle("open");
      $("menu").setAttribute("aria-expanded", String(open));
    });
    window.addEventListener("online", () => setConn("reconnecting"));
    window.addEventListener("offline", () => setConn("offline"));
    window.addEventListener("pagehide", () => st.channel && st.channel.close());
    setInterval(() => st.channel && refreshRooms(), 10000);
    enter().catch((e) => { setConn("offline"); notice("Could not reach the server: " + e.message); });
  }
  start();
})();
