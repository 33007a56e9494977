// ssechat service worker: shows the server's Web Push notifications (a direct message, a
// mention or a reply while the user had no page open), and on a click brings a page of the
// origin to the room at the message, opening a page there when none is open.
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));

const TITLES = { dm: (p) => p.user_id, mention: (p) => `${p.user_id} mentioned you`,
  reply: (p) => `${p.user_id} replied`, message: (p) => `${p.user_id} in ${p.room}` };

self.addEventListener("push", (e) => {
  let p;
  try { p = e.data.json(); } catch { return; }
  const title = (TITLES[p.kind] || TITLES.message)(p);
  // One notification per room: a burst replaces rather than piles up.
  e.waitUntil(self.registration.showNotification(title, {
    body: p.text, tag: "ssechat:" + p.room, renotify: true, data: { room: p.room, id: p.id },
  }));
});

self.addEventListener("notificationclick", (e) => {
  e.notification.close();
  const { room, id } = e.notification.data || {};
  e.waitUntil((async () => {
    const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const c of pages) {
      if (new URL(c.url).origin !== self.location.origin) continue;
      await c.focus();
      c.postMessage({ type: "open", room, id });
      return;
    }
    // No page open: a new one, at the room and the message (push.js reads "&msg=").
    await self.clients.openWindow("/#" + encodeURIComponent(room) + (id ? "&msg=" + id : ""));
  })());
});
