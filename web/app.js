// ssechat web client: rooms, history, live events through a shared worker, presence, and a
// composer that never loses what was typed. User text only ever goes into textContent.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const ROOM_RE = /^[A-Za-z0-9_.-]{1,64}$/;
  const URL_RE = /\bhttps?:\/\/[^\s<>"']+/g;

  const st = {
    user: "", room: "", ids: new Set(), oldest: null, hasMore: true, loadingOlder: false,
    online: new Set(), channel: null, roomsTimer: 0,
  };

  // ---- identity -------------------------------------------------------------------------
  function loadName() {
    let n = localStorage.getItem("ssechat.name");
    if (!n) {
      n = "guest-" + Math.floor(1000 + Math.random() * 9000);
      localStorage.setItem("ssechat.name", n);
    }
    return n;
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

  function atBottom() {
    const log = $("log");
    return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  }
  function scrollToBottom() {
    const log = $("log");
    log.scrollTop = log.scrollHeight;
    $("new-marker").hidden = true;
  }

  // Inserts a committed message in id order, once.
  function addMessage(m, live) {
    if (!m || typeof m.id !== "number" || st.ids.has(m.id)) return;
    st.ids.add(m.id);
    if (st.oldest === null || m.id < st.oldest) st.oldest = m.id;
    const list = $("messages");
    const pending = list.querySelector(`li.pending[data-key="${CSS.escape(m.user_id + "\n" + m.message)}"]`);
    if (pending && m.user_id === st.user) pending.remove();
    const stick = atBottom();
    const node = messageNode(m);
    let after = null;
    for (let el = list.lastElementChild; el; el = el.previousElementSibling) {
      if (el.dataset.id && Number(el.dataset.id) < m.id) { after = el; break; }
    }
    if (after) after.after(node);
    else list.prepend(node);
    if (live) {
      if (stick || m.user_id === st.user) scrollToBottom();
      else $("new-marker").hidden = false;
    }
  }

  function notice(text) {
    const li = document.createElement("li");
    li.className = "notice";
    li.textContent = text;
    const stick = atBottom();
    $("messages").append(li);
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
    const el = $("conn");
    el.dataset.state = state;
    el.textContent = state;
  }

  // ---- server calls ---------------------------------------------------------------------
  async function getJSON(url) {
    const r = await fetch(url, { cache: "no-store" });
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
    return r.json();
  }
  const roomPath = (room) => "/rooms/" + encodeURIComponent(room);

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
        badge.textContent = String(r.online);
        badge.setAttribute("aria-label", r.online + " online");
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
    if (msg.type === "state") return setConn(msg.state);
    let data;
    try { data = JSON.parse(msg.data); } catch { return; }
    if (msg.type === "message") {
      if (data.room === st.room) addMessage(data, true);
    } else if (msg.type === "presence") {
      if (data.state === "join") st.online.add(data.user_id);
      else st.online.delete(data.user_id);
      if (data.user_id !== st.user) notice(`${data.user_id} ${data.state === "join" ? "joined" : "left"}`);
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
        subscribe: (room, user) => w.port.postMessage({ type: "subscribe", room, user }),
        close: () => w.port.postMessage({ type: "unsubscribe" }),
      };
    }
    let es = null;
    return {
      subscribe(room, user) {
        if (es) es.close();
        es = new EventSource(`${roomPath(room)}/events?history=0&id=${encodeURIComponent(user)}`);
        es.onopen = () => onEvent({ type: "state", state: "connected" });
        es.onerror = () => onEvent({ type: "state", state: es.readyState === 2 ? "offline" : "reconnecting" });
        for (const t of ["message", "presence", "reset"]) es.addEventListener(t, (ev) => onEvent({ type: t, data: ev.data }));
      },
      close() { if (es) es.close(); },
    };
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
    document.title = `#${room} · ssechat`;
    if (location.hash !== "#" + room) history.replaceState(null, "", "#" + room);
    setConn("reconnecting");
    // Subscribe first, then read history: whatever commits in between arrives live, and ids
    // remove the overlap.
    st.channel.subscribe(room, st.user);
    try {
      const [page, presence] = await Promise.all([
        getJSON(`${roomPath(room)}/messages?limit=50`),
        getJSON(`${roomPath(room)}/presence`),
      ]);
      if (room !== st.room) return;
      page.messages.forEach((m) => addMessage(m, false));
      st.hasMore = page.has_more;
      presence.online.forEach((u) => st.online.add(u));
      renderOnline();
      scrollToBottom();
    } catch (e) {
      notice("Could not load history: " + e.message);
    }
    refreshRooms();
  }

  // ---- sending --------------------------------------------------------------------------
  async function send(text, li) {
    li.classList.add("pending");
    li.classList.remove("failed");
    li.querySelector(".error")?.remove();
    try {
      const r = await fetch(`${roomPath(st.room)}/messages?id=${encodeURIComponent(st.user)}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ message: text }),
      });
      const body = await r.json().catch(() => ({}));
      if (r.status !== 201) throw new Error(body.error || `HTTP ${r.status}`);
      li.remove();
      addMessage(body, true);
    } catch (e) {
      li.classList.remove("pending");
      li.classList.add("failed");
      const err = document.createElement("div");
      err.className = "error";
      err.textContent = "Not sent: " + e.message;
      const retry = document.createElement("button");
      retry.type = "button";
      retry.className = "retry";
      retry.textContent = "Retry";
      retry.addEventListener("click", () => send(text, li));
      err.append(retry);
      li.append(err);
    }
  }

  function submit() {
    const ta = $("text");
    const text = ta.value.trim();
    if (!text) return;
    ta.value = "";
    const li = messageNode({ user_id: st.user, message: text });
    li.dataset.key = st.user + "\n" + text;
    $("messages").append(li);
    scrollToBottom();
    send(text, li);
  }

  // ---- wiring ---------------------------------------------------------------------------
  function start() {
    st.user = loadName();
    $("name").value = st.user;
    st.channel = openChannel();
    $("name-form").addEventListener("submit", (e) => e.preventDefault());
    $("name").addEventListener("change", () => {
      const n = $("name").value.trim();
      if (!n || n === st.user) return;
      st.user = n;
      localStorage.setItem("ssechat.name", n);
      joinRoom(st.room);
    });
    $("join-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const r = $("join").value.trim();
      if (!ROOM_RE.test(r)) return;
      $("join").value = "";
      location.hash = "#" + r;
    });
    window.addEventListener("hashchange", () => {
      const r = decodeURIComponent(location.hash.slice(1));
      if (r && r !== st.room) joinRoom(r);
      $("side").classList.remove("open");
      $("menu").setAttribute("aria-expanded", "false");
    });
    $("composer").addEventListener("submit", (e) => { e.preventDefault(); submit(); });
    $("text").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    });
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
    window.addEventListener("pagehide", () => st.channel.close());
    setInterval(refreshRooms, 10000);
    joinRoom(decodeURIComponent(location.hash.slice(1)) || "general");
  }
  start();
})();
