// Message text as Markdown: CommonMark with GitHub's fenced code, strikethrough and
// autolinks, parsed by the vendored markdown-it (web/markdown-it.min.js, see
// web/licenses/markdown-it.txt). The page never asks markdown-it for HTML: it walks the
// token stream and builds elements from a fixed list, with every piece of user text set as
// textContent. Raw HTML is text (html: false), images are off, and a link is a link only for
// http:, https: and mailto:.
"use strict";

window.ssechatMarkdown = (() => {
  const md = window.markdownit({ html: false, linkify: true, breaks: true, typographer: false });
  md.disable(["image", "table"]);
  const SAFE = /^(https?:|mailto:)/i;
  md.validateLink = (url) => SAFE.test(url.trim());

  // The elements a token may open; anything else becomes a span.
  const TAGS = new Set(["p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote",
    "strong", "em", "s", "a", "code", "pre", "hr", "br"]);

  // Mentions in a piece of text: "@name" not inside a word, as the server counts them.
  const MENTION = /(^|[^\p{L}\p{N}_.-])@([A-Za-z0-9_.-]*[A-Za-z0-9_-])/gu;

  function text(parent, s, me) {
    let last = 0;
    for (const m of s.matchAll(MENTION)) {
      const at = m.index + m[1].length;
      if (at > last) parent.append(document.createTextNode(s.slice(last, at)));
      const span = document.createElement("span");
      span.className = m[2] === me ? "mention me" : "mention";
      span.textContent = "@" + m[2];
      parent.append(span);
      last = at + 1 + m[2].length;
    }
    if (last < s.length) parent.append(document.createTextNode(s.slice(last)));
  }

  function element(tag) {
    return document.createElement(TAGS.has(tag) ? tag : "span");
  }

  function inline(parent, tokens, me) {
    const stack = [parent];
    const top = () => stack[stack.length - 1];
    for (const t of tokens) {
      if (t.type === "text") text(top(), t.content, me);
      else if (t.type === "code_inline") {
        const c = element("code");
        c.textContent = t.content;
        top().append(c);
      } else if (t.type === "softbreak" || t.type === "hardbreak") top().append(element("br"));
      else if (t.nesting === 1) {
        const el = element(t.tag);
        if (t.type === "link_open") {
          const href = t.attrGet("href") || "";
          if (SAFE.test(href)) {
            el.href = href;
            el.rel = "noopener noreferrer nofollow";
            el.target = "_blank";
          }
        }
        top().append(el);
        stack.push(el);
      } else if (t.nesting === -1) {
        if (stack.length > 1) stack.pop();
      } else if (t.content) text(top(), t.content, me);
    }
  }

  // Renders `src` into `parent` (emptied first); `me` is the reader, whose mentions stand out.
  function render(parent, src, me) {
    parent.replaceChildren();
    const tokens = md.parse(src, {});
    const stack = [parent];
    const top = () => stack[stack.length - 1];
    for (const t of tokens) {
      if (t.type === "inline") inline(top(), t.children || [], me);
      else if (t.type === "fence" || t.type === "code_block") {
        const pre = element("pre");
        const code = element("code");
        code.textContent = t.content.replace(/\n$/, "");
        const lang = (t.info || "").trim().split(/\s+/)[0];
        if (lang) code.dataset.lang = lang;
        pre.append(code);
        top().append(pre);
      } else if (t.type === "hr") top().append(element("hr"));
      else if (t.hidden) continue;  // a tight list's paragraphs: their text goes in the item
      else if (t.nesting === 1) {
        const el = element(t.tag);
        if (t.type === "ordered_list_open") {
          const start = Number(t.attrGet("start"));
          if (Number.isInteger(start) && start >= 0 && start < 1e9) el.start = start;
        }
        top().append(el);
        stack.push(el);
      } else if (t.nesting === -1) {
        if (stack.length > 1) stack.pop();
      } else if (t.content) text(top(), t.content, me);
    }
  }

  return { render };
})();
