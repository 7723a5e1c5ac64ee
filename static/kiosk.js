/* The kiosk's small island (no inline script: the CSP forbids it).
   1. A visible countdown: untouched for data-idle seconds, the screen goes back to the start.
   2. Offline: a card scanned while the network is down is kept in localStorage with its own
      key and the time it happened, and sent to data-sync when the network returns. */
(function () {
  "use strict";
  var body = document.body;
  var idle = parseInt(body.dataset.idle || "0", 10);
  var home = body.dataset.home;
  var QUEUE = "kiosk-queue";
  var refresh = parseInt(body.dataset.refresh || "0", 10);
  // The place code rotates: a new one every `refresh` seconds (a meta refresh without JS).
  if (refresh > 0) setTimeout(function () { window.location.reload(); }, refresh * 1000);

  if (idle > 0) {
    var left = idle;
    var box = document.getElementById("countdown");
    var number = document.getElementById("countdown-n");
    if (box) box.hidden = false;
    var touched = function () { left = idle; if (number) number.textContent = left; };
    ["pointerdown", "keydown", "input", "htmx:afterSwap"].forEach(function (name) {
      document.addEventListener(name, touched, true);
    });
    setInterval(function () {
      left -= 1;
      if (number) number.textContent = Math.max(left, 0);
      if (left <= 0 && navigator.onLine) { left = idle; window.location.assign(home); }
    }, 1000);
  }

  function queue() {
    try { return JSON.parse(localStorage.getItem(QUEUE) || "[]"); } catch (e) { return []; }
  }
  function save(items) { localStorage.setItem(QUEUE, JSON.stringify(items)); }
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    var s = ""; for (var i = 0; i < 32; i++) s += Math.floor(Math.random() * 16).toString(16);
    return s;
  }
  var note = document.getElementById("offline-note");
  function showNote(text) { if (note) { note.hidden = false; if (text) note.textContent = text; } }

  var sending = false;
  function flush() {
    if (sending || !navigator.onLine) return;
    var items = queue();
    if (!items.length) return;
    sending = true;
    var item = items[0];
    var form = new URLSearchParams({card: item.card, at: String(item.at), key: item.key,
                                    csrf_token: body.dataset.csrf});
    fetch(body.dataset.sync, {method: "POST", body: form, credentials: "same-origin",
                              headers: {"X-CSRFToken": body.dataset.csrf}})
      .then(function (response) {
        sending = false;
        if (response.ok || response.status === 422) {
          // Delivered, or refused for good (an unknown card): either way not sent again.
          save(queue().filter(function (x) { return x.key !== item.key; }));
          if (!queue().length && note) { showNote(note.dataset.sent); }
          flush();
        }
      })
      .catch(function () { sending = false; });
  }

  var cardForm = document.getElementById("card-form");
  if (cardForm) {
    cardForm.addEventListener("submit", function (event) {
      if (navigator.onLine) return;
      event.preventDefault();
      var input = document.getElementById("card");
      if (!input.value) return;
      var items = queue();
      items.push({card: input.value, at: Date.now(), key: newKey()});
      save(items);
      input.value = "";
      showNote(note && note.dataset.saved);
      input.focus();
    });
  }
  window.addEventListener("offline", function () { showNote(); });
  window.addEventListener("online", flush);
  flush();
})();
