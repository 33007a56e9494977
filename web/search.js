// Search in the page: a box in the sidebar, results grouped by room in a panel, newest
// first; a result opens its room at the message. Snippets mark the matched words with
// STX/ETX from the server; they become <mark> elements, their text always as text.
"use strict";

window.ssechatSearch = (() => {
  let ctx = null;  // { getJSON(url), query(), open(room, id), roomLabel(room), nameOf(user) }
  let last = { q: "", next: null, results: [] };

  function snippet(parent, s) {
    const parts = s.split(/([\u0002\u0003])/);
    let mark = null;
    for (const p of parts) {
      if (p === "\u0002") { mark = document.createElement("mark"); parent.append(mark); }
      else if (p === "\u0003") mark = null;
      else if (p) (mark || parent).append(document.createTextNode(p));
    }
  }

  function draw() {
    const box = document.getElementById("search-results");
    box.replaceChildren();
    const rooms = new Map();
    for (const r of last.results) {
      if (!rooms.has(r.room)) rooms.set(r.room, []);
      rooms.get(r.room).push(r);
    }
    if (!last.results.length) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = `Nothing found for “${last.q}”.`;
      box.append(p);
    }
    for (const [room, list] of rooms) {
      const h = document.createElement("h3");
      h.textContent = ctx.roomLabel(room);
      const ul = document.createElement("ul");
      for (const r of list) {
        const li = document.createElement("li");
        const b = document.createElement("button");
        b.type = "button";
        b.className = "result";
        const who = document.createElement("span");
        who.className = "author";
        who.textContent = ctx.nameOf(r.user_id);
        const when = document.createElement("time");
        const d = new Date(r.ts);
        when.dateTime = d.toISOString();
        when.textContent = d.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
        const text = document.createElement("span");
        text.className = "snippet";
        snippet(text, r.snippet);
        b.append(who, " ", when, document.createElement("br"), text);
        b.addEventListener("click", () => ctx.open(r.room, r.id));
        li.append(b);
        ul.append(li);
      }
      box.append(h, ul);
    }
    document.getElementById("search-more").hidden = !last.next;
  }

  async function run(more) {
    const q = more ? last.q : document.getElementById("search").value.trim();
    if (!q) return;
    const extra = ctx.query();
    const url = `/me/search?q=${encodeURIComponent(q)}&limit=20` +
      (more && last.next ? `&before=${encodeURIComponent(last.next)}` : "") + (extra ? "&" + extra : "");
    const panel = document.getElementById("search-panel");
    panel.hidden = false;
    document.getElementById("members-panel").hidden = true;  // one side panel at a time
    document.getElementById("app").classList.add("panel-open");
    try {
      const got = await ctx.getJSON(url);
      last = { q, next: got.next, results: more ? last.results.concat(got.results) : got.results };
      draw();
    } catch (e) {
      const box = document.getElementById("search-results");
      box.replaceChildren();
      const p = document.createElement("p");
      p.className = "form-error";
      p.textContent = "Search failed: " + e.message;
      box.append(p);
    }
  }

  return {
    setup(c) {
      ctx = c;
      document.getElementById("search-form").addEventListener("submit", (e) => { e.preventDefault(); run(false); });
      document.getElementById("search-more").addEventListener("click", () => run(true));
      document.getElementById("search-close").addEventListener("click", () => {
        document.getElementById("search-panel").hidden = true;
        document.getElementById("app").classList.remove("panel-open");
      });
    },
  };
})();
