// Browser notifications with the tab closed (Web Push): the "Turn on notifications" button asks
// for permission only when clicked, then registers the service worker (sw.js), subscribes with
// the server's VAPID key and gives the subscription to the server (PUT /me/push). A click on a
// notification comes back here from the worker and opens the room at the message.
"use strict";

window.ssechatPush = (() => {
  let ctx = null;  // { apiCall(method, path, body), getJSON(path), openAt(room, id), signedIn() }
  const btn = () => document.getElementById("push-btn");
  const note = () => document.getElementById("push-note");
  const supported = () => "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

  function say(text) {
    note().textContent = text;
    note().hidden = !text;
  }

  function keyBytes(b64url) {
    const s = atob(b64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64url.length + 3) % 4));
    return Uint8Array.from(s, (c) => c.charCodeAt(0));
  }

  async function turnOn() {
    if (!ctx.signedIn()) {
      say("Notifications need a signed-in user: without one anyone could take your name.");
      return;
    }
    btn().disabled = true;
    try {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") {
        say("Notifications are blocked for this site: allow them in the browser's settings.");
        return;
      }
      const reg = await navigator.serviceWorker.register("/sw.js");
      await navigator.serviceWorker.ready;
      const { key } = await ctx.getJSON("/push/key");
      let sub;
      try {
        sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
      } catch (e) {
        say("This browser could not reach its push service: " + e.message);
        return;
      }
      try {
        await ctx.apiCall("PUT", "/me/push", sub.toJSON());
      } catch (e) {
        say("The server did not take the subscription: " + e.message);
        return;
      }
      localStorage.setItem("ssechat.push", sub.endpoint);
      say("Notifications are on for direct messages, mentions and replies.");
      btn().hidden = true;
    } catch (e) {
      say("Could not turn on notifications: " + e.message);
    } finally {
      btn().disabled = false;
    }
  }

  // A page opened by a notification's click: "#room&msg=ID". The id leaves the address (the
  // page reads the room from it) and the page jumps there once the room is open.
  function takeMessageFromUrl() {
    const m = location.hash.match(/&msg=(\d+)/);
    if (!m) return;
    history.replaceState(null, "", location.hash.replace(/&msg=\d+/, "") || "#");
    const room = decodeURIComponent(location.hash.slice(1).split("&")[0]);
    if (room) ctx.openAt(room, Number(m[1]));
  }

  function setup(c) {
    ctx = c;
    takeMessageFromUrl();
    if (!supported()) return;
    btn().hidden = Notification.permission === "denied" || !!localStorage.getItem("ssechat.push");
    btn().addEventListener("click", turnOn);
    navigator.serviceWorker.addEventListener("message", (e) => {
      if (e.data && e.data.type === "open" && e.data.room) ctx.openAt(e.data.room, e.data.id);
    });
  }

  return { setup };
})();
