/* Nothing typed is lost when the phone loses the network (issue 9).
   A form marked data-offline (the hours form, the request form) that is sent while the
   network is down, or whose sending fails on the way, is kept in localStorage with
   everything typed and its one-time key; the page says so (#offline-note, "已保存，联网后
   自动提交"). When the network is back — the "online" event, or the next portal page the
   member opens — each kept form is sent with a fresh CSRF token (fetched from the form's
   own page), and the note says "已提交". The server takes each exactly once: the one-time
   key makes a second delivery a replay (same key, same content), never a second record.

   A page island, not a service worker: Chromium's offline emulation does not reach a
   service worker's requests (microsoft/playwright#2311), so a worker's queue could not be
   tested offline; and this needs no Background Sync. Without JavaScript nothing changes:
   the form posts as always. No inline script (the CSP forbids it). */
(function () {
  "use strict";
  var QUEUE = "portal-offline-forms";
  var STALE_MS = 30000; // a delivery another tab started this long ago may be retried

  function queue() {
    try { return JSON.parse(localStorage.getItem(QUEUE) || "[]"); } catch (e) { return []; }
  }
  function save(items) {
    try { localStorage.setItem(QUEUE, JSON.stringify(items)); return true; } catch (e) { return false; }
  }
  function note(kind, extra) {
    var box = document.getElementById("offline-note");
    if (!box) return;
    box.textContent = (box.dataset[kind] || "") + (extra ? " " + extra : "");
    box.className = "flash " + (kind === "failed" ? "flash-error" : kind === "sent" ? "flash-success" : "flash-info");
    box.hidden = false;
  }

  function keep(form) {
    var fields = [];
    new FormData(form).forEach(function (value, name) {
      if (typeof value === "string") fields.push([name, value]);
    });
    var key = form.querySelector("input[name=once]");
    if (!key || !key.value) return false;
    var items = queue().filter(function (item) { return item.key !== key.value; });
    items.push({ action: form.action, key: key.value, fields: fields, at: Date.now() });
    if (!save(items)) return false;
    note("saved");
    return true;
  }

  // Before htmx (capture phase on the document): offline, keep the form instead of sending.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-offline]") || navigator.onLine) return;
    if (keep(form)) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);
  // Online as far as the phone knew, but the request never arrived (or its answer was lost):
  // keep it too. If the server did take it, sending it again is a harmless replay.
  document.addEventListener("htmx:sendError", function (event) {
    var form = event.detail.elt;
    if (form && form.matches && form.matches("form[data-offline]")) keep(form);
  });

  function textOf(html, selector) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var node = doc.querySelector(selector);
    return node ? (node.value !== undefined && node.tagName === "INPUT" ? node.value : node.textContent.trim()) : "";
  }
  function toLogin(response) { return /\/login(\?|$)/.test(new URL(response.url).pathname + new URL(response.url).search); }

  var sending = false;
  function deliver(item) {
    // A fresh CSRF token from the form's own page: the one in the kept copy may belong to a
    // session that has ended since.
    return fetch(item.action, { credentials: "same-origin" }).then(function (page) {
      if (!page.ok || toLogin(page)) throw new Error("login");
      return page.text();
    }).then(function (html) {
      var token = textOf(html, "input[name=csrf_token]");
      var body = new URLSearchParams();
      item.fields.forEach(function (pair) {
        body.append(pair[0], pair[0] === "csrf_token" ? token : pair[1]);
      });
      return fetch(item.action, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRFToken": token }
      });
    }).then(function (response) {
      if (response.ok && !toLogin(response)) return "sent";
      if (response.status === 422) {
        return response.text().then(function (html) {
          return { failed: textOf(html, ".error-box") || textOf(html, ".error") };
        });
      }
      throw new Error("later");
    });
  }

  function flush() {
    if (sending || !navigator.onLine) return;
    var now = Date.now();
    var item = queue().filter(function (x) { return !x.sending || now - x.sending > STALE_MS; })[0];
    if (!item) return;
    sending = true;
    save(queue().map(function (x) { if (x.key === item.key) x.sending = now; return x; }));
    deliver(item).then(function (outcome) {
      sending = false;
      // Delivered, or refused for good (its message shown): not sent again.
      save(queue().filter(function (x) { return x.key !== item.key; }));
      if (outcome === "sent") note("sent"); else note("failed", outcome.failed);
      flush();
    }).catch(function (error) {
      sending = false;
      save(queue().map(function (x) { if (x.key === item.key) delete x.sending; return x; }));
      if (error && error.message === "login") note("login");
    });
  }

  window.addEventListener("online", flush);
  document.addEventListener("htmx:afterSettle", function () {
    if (queue().length) note("saved");
    flush();
  });
  if (queue().length) note("saved");
  flush();
})();
