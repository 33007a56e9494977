// ssechat shared worker: one user stream (/me/events) per user, shared by every tab of the
// origin. It carries every room the user is in, so a browser holds one connection whatever the
// number of tabs and rooms (HTTP/1.1 allows six per origin). The EventSource resumes by its
// last cursor by itself after a drop.
"use strict";
const streams = new Map(); // "user\ntoken" -> { es, ports: Set<MessagePort>, state }
const KINDS = ["rooms", "message", "edit", "delete", "reaction", "typing", "presence", "receipt",
  "read", "joined", "left", "reset", "member", "room"];

function broadcast(s, msg) {
  for (const p of s.ports) p.postMessage(msg);
}

function unsubscribe(port) {
  const s = port.stream;
  if (!s) return;
  s.ports.delete(port);
  port.stream = null;
  if (s.ports.size === 0) {
    s.es.close();
    streams.delete(s.key);
  }
}

function subscribe(port, user, token, anonymous) {
  unsubscribe(port);
  const key = user + "\n" + (token || "");
  let s = streams.get(key);
  if (!s) {
    // Anonymous: ?id= names the user. With a token (or the ssechat_token cookie) the server
    // takes the user from it.
    const q = [];
    if (anonymous) q.push("id=" + encodeURIComponent(user));
    if (token) q.push("token=" + encodeURIComponent(token));
    const url = "/me/events" + (q.length ? "?" + q.join("&") : "");
    s = { key, ports: new Set(), state: "reconnecting", es: new EventSource(url) };
    const setState = (state) => { s.state = state; broadcast(s, { type: "state", state }); };
    s.es.onopen = () => setState("connected");
    s.es.onerror = () => setState(s.es.readyState === EventSource.CLOSED ? "offline" : "reconnecting");
    for (const type of KINDS)
      s.es.addEventListener(type, (ev) => broadcast(s, { type, data: ev.data }));
    streams.set(key, s);
  }
  s.ports.add(port);
  port.stream = s;
  port.postMessage({ type: "state", state: s.state });
}

self.onconnect = (e) => {
  const port = e.ports[0];
  port.onmessage = (m) => {
    const d = m.data || {};
    if (d.type === "subscribe") subscribe(port, d.user, d.token, d.anonymous);
    else if (d.type === "unsubscribe") unsubscribe(port);
  };
  port.start();
};
