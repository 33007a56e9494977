// ssechat shared worker: one EventSource per room and user, shared by every tab of the origin,
// because browsers allow only six HTTP/1.1 connections per origin.
"use strict";
const streams = new Map(); // "room\nuser\ntoken" -> { es, ports: Set<MessagePort>, state }

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

function subscribe(port, room, user, token, anonymous) {
  unsubscribe(port);
  const key = room + "\n" + user + "\n" + (token || "");
  let s = streams.get(key);
  if (!s) {
    // Anonymous: ?id= names the user. With a token (or the ssechat_token cookie) the server
    // takes the user from it.
    let url = "/rooms/" + encodeURIComponent(room) + "/events?history=0";
    if (anonymous) url += "&id=" + encodeURIComponent(user);
    if (token) url += "&token=" + encodeURIComponent(token);
    s = { key, ports: new Set(), state: "reconnecting", es: new EventSource(url) };
    const setState = (state) => { s.state = state; broadcast(s, { type: "state", state }); };
    s.es.onopen = () => setState("connected");
    s.es.onerror = () => setState(s.es.readyState === EventSource.CLOSED ? "offline" : "reconnecting");
    for (const type of ["message", "edit", "delete", "reaction", "typing", "presence", "reset"])
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
    if (d.type === "subscribe") subscribe(port, d.room, d.user, d.token, d.anonymous);
    else if (d.type === "unsubscribe") unsubscribe(port);
  };
  port.start();
};
