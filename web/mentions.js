// @-name completion in the composer: typing "@" and the start of a name offers the room's
// people (its members, who is online, who wrote here), by keyboard (arrows, Enter or Tab,
// Escape) and by mouse. Names are shown as text; the choice inserts "@id ".
"use strict";

window.ssechatMentions = (() => {
  let ctx = null;  // { people(): Promise<string[]>, nameOf(id) }
  let list = [], at = 0, start = -1;
  const box = () => document.getElementById("mentions");
  const ta = () => document.getElementById("text");

  function close() {
    list = [];
    start = -1;
    box().hidden = true;
    ta().removeAttribute("aria-activedescendant");
    ta().setAttribute("aria-expanded", "false");
  }

  function draw() {
    const ul = box();
    ul.replaceChildren();
    list.forEach((id, i) => {
      const li = document.createElement("li");
      li.id = "mention-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(i === at));
      const name = ctx.nameOf(id);
      li.textContent = name === id ? "@" + id : `${name} (@${id})`;
      li.addEventListener("mousedown", (e) => { e.preventDefault(); at = i; accept(); });
      ul.append(li);
    });
    ul.hidden = list.length === 0;
    ta().setAttribute("aria-expanded", String(list.length > 0));
    if (list.length) ta().setAttribute("aria-activedescendant", "mention-" + at);
  }

  async function update() {
    const t = ta(), upto = t.value.slice(0, t.selectionStart);
    const m = upto.match(/(^|[^\p{L}\p{N}_.@-])@([\p{L}\p{N}_.-]{0,64})$/u);
    if (!m) return close();
    start = upto.length - m[2].length - 1;
    const prefix = m[2].toLowerCase();
    const people = await ctx.people();
    list = people.filter((id) => id.toLowerCase().startsWith(prefix) ||
      ctx.nameOf(id).toLowerCase().startsWith(prefix)).slice(0, 8);
    at = 0;
    draw();
  }

  function accept() {
    const id = list[at];
    if (id === undefined || start < 0) return close();
    const t = ta(), end = t.selectionStart;
    t.value = t.value.slice(0, start) + "@" + id + " " + t.value.slice(end);
    const caret = start + id.length + 2;
    t.setSelectionRange(caret, caret);
    close();
    t.dispatchEvent(new Event("input"));
  }

  return {
    setup(c) {
      ctx = c;
      ta().setAttribute("aria-controls", "mentions");
      ta().setAttribute("aria-autocomplete", "list");
      ta().addEventListener("input", () => { update(); });
      ta().addEventListener("blur", () => setTimeout(close, 150));
    },
    // A key in the composer: true when the completion used it.
    key(e) {
      if (!list.length) return false;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        at = (at + (e.key === "ArrowDown" ? 1 : list.length - 1)) % list.length;
        draw();
      } else if (e.key === "Enter" || e.key === "Tab") {
        accept();
      } else if (e.key === "Escape") {
        close();
      } else {
        return false;
      }
      e.preventDefault();
      return true;
    },
    close,
  };
})();
