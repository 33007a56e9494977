// Files in the page: uploads (button, paste, drop) with a progress bar into a tray above the
// composer, and a message's files shown under its text: images as previews whose space is
// reserved from the width and height the server read, anything else as a link to download.
// The server names every type; the page only chooses inline images from its word.
"use strict";

window.ssechatFiles = (() => {
  const INLINE = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);
  const MAX_PREVIEW = 320;  // CSS pixels, the longer side

  let ctx = null;  // { room(), auth(), query(), onChange() } from app.js
  const tray = [];  // { file, desc, xhr, el }

  const size = (n) => (n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(0) + " KB"
    : (n / 1048576).toFixed(1) + " MB");
  const fileUrl = (f) => `/files/${encodeURIComponent(f.id)}/${encodeURIComponent(f.name)}`;

  // A token cannot ride on an <img>: with one, the bytes come by fetch, as a blob: URL.
  async function source(f) {
    const q = ctx.query();
    const url = fileUrl(f) + (q ? "?" + q : "");
    const auth = ctx.auth();
    if (!auth.Authorization) return url;
    const r = await fetch(url, { headers: auth });
    if (!r.ok) throw new Error("HTTP " + r.status);
    return URL.createObjectURL(await r.blob());
  }

  // The files of a message, under its text.
  function render(parent, files) {
    if (!Array.isArray(files) || !files.length) return;
    const box = document.createElement("div");
    box.className = "files";
    for (const f of files) {
      if (INLINE.has(f.type) && f.width && f.height) {
        const scale = Math.min(1, MAX_PREVIEW / Math.max(f.width, f.height));
        const a = document.createElement("a");
        a.className = "preview";
        a.title = f.name + " (" + size(f.size) + "): open full size";
        const img = document.createElement("img");
        img.alt = f.name;
        // Reserved before a byte arrives, so the timeline does not jump.
        img.width = Math.max(1, Math.round(f.width * scale));
        img.height = Math.max(1, Math.round(f.height * scale));
        img.loading = "lazy";
        a.append(img);
        source(f).then((src) => { img.src = src; a.href = src; a.target = "_blank"; a.rel = "noopener"; })
          .catch(() => { img.alt = f.name + " (not available)"; });
        box.append(a);
      } else {
        const a = document.createElement("a");
        a.className = "attachment";
        a.textContent = "📎 " + f.name;
        const meta = document.createElement("span");
        meta.className = "file-size";
        meta.textContent = " " + size(f.size);
        a.append(meta);
        a.addEventListener("click", async (e) => {
          if (a.href) return;
          e.preventDefault();
          try {
            a.href = await source(f);
            a.download = f.name;
            a.click();
          } catch (err) { a.title = "not available: " + err.message; }
        });
        box.append(a);
      }
    }
    parent.append(box);
  }

  function drawTray() {
    const el = document.getElementById("tray");
    el.replaceChildren();
    el.hidden = tray.length === 0;
    for (const t of tray) {
      const chip = document.createElement("div");
      chip.className = "tray-item" + (t.error ? " failed" : "");
      const name = document.createElement("span");
      name.textContent = t.file.name || "pasted image";
      chip.append(name);
      if (!t.desc && !t.error) {
        const bar = document.createElement("progress");
        bar.max = 100;
        bar.value = t.progress || 0;
        bar.setAttribute("aria-label", "Uploading " + (t.file.name || "a file"));
        chip.append(bar);
      }
      if (t.error) {
        const why = document.createElement("span");
        why.className = "error";
        why.textContent = " " + t.error;
        chip.append(why);
      }
      const drop = document.createElement("button");
      drop.type = "button";
      drop.className = "link";
      drop.textContent = "✕";
      drop.setAttribute("aria-label", "Remove " + (t.file.name || "the file"));
      drop.addEventListener("click", () => {
        if (t.xhr && !t.desc) t.xhr.abort();
        tray.splice(tray.indexOf(t), 1);
        drawTray();
        ctx.onChange();
      });
      chip.append(drop);
      el.append(chip);
    }
  }

  // Uploads into the open room; XMLHttpRequest because fetch reports no upload progress.
  function add(file) {
    const t = { file, desc: null, error: "", progress: 0 };
    tray.push(t);
    const name = file.name || "pasted-" + new Date().toISOString().replace(/[:.]/g, "-") +
      "." + ((file.type.split("/")[1] || "bin").replace(/[^a-z0-9]/gi, ""));
    const q = ctx.query();
    const xhr = new XMLHttpRequest();
    t.xhr = xhr;
    xhr.open("POST", `/rooms/${encodeURIComponent(ctx.room())}/files?name=${encodeURIComponent(name)}${q ? "&" + q : ""}`);
    for (const [k, v] of Object.entries(ctx.auth())) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      t.progress = Math.round((100 * e.loaded) / e.total);
      const bar = document.querySelectorAll("#tray progress")[tray.indexOf(t)];
      if (bar) bar.value = t.progress;
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status === 201 && body.file) t.desc = body.file;
      else t.error = body.error || "HTTP " + xhr.status;
      drawTray();
      ctx.onChange();
    };
    xhr.onerror = () => { t.error = "the upload failed"; drawTray(); ctx.onChange(); };
    xhr.send(file);
    drawTray();
    ctx.onChange();
  }

  return {
    setup(c) {
      ctx = c;
      const input = document.getElementById("file-input");
      document.getElementById("attach").addEventListener("click", () => input.click());
      input.addEventListener("change", () => {
        for (const f of input.files) add(f);
        input.value = "";
      });
      document.getElementById("text").addEventListener("paste", (e) => {
        const files = [...(e.clipboardData?.files || [])];
        if (!files.length) return;
        e.preventDefault();
        files.forEach(add);
      });
      const zone = document.querySelector("main.chat");
      zone.addEventListener("dragover", (e) => {
        if (![...e.dataTransfer.types].includes("Files")) return;
        e.preventDefault();
        zone.classList.add("dropping");
      });
      zone.addEventListener("dragleave", (e) => { if (e.target === zone) zone.classList.remove("dropping"); });
      zone.addEventListener("drop", (e) => {
        zone.classList.remove("dropping");
        if (!e.dataTransfer.files.length) return;
        e.preventDefault();
        [...e.dataTransfer.files].forEach(add);
      });
    },
    render,
    // The uploaded files' ids for the next message, and whether any upload is still going.
    ready: () => tray.filter((t) => t.desc).map((t) => t.desc.id),
    busy: () => tray.some((t) => !t.desc && !t.error),
    // Descriptions of the uploaded ones (for the pending message), then an empty tray.
    take() {
      const done = tray.filter((t) => t.desc).map((t) => t.desc);
      tray.length = 0;
      drawTray();
      return done;
    },
    clear() { for (const t of tray) if (t.xhr && !t.desc) t.xhr.abort(); tray.length = 0; drawTray(); },
  };
})();
