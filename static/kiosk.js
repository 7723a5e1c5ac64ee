/* The kiosk's small island (no inline script: the CSP forbids it).
   1. A visible countdown: untouched for data-idle seconds, the screen goes back to the start.
   2. The keypad works here: digits, delete and "next" change the form on this screen, so no
      tap is lost to a request in flight (an elder keeps tapping); only the last OK is sent,
      once. Taps made while that request is pending are replayed on the keypad that comes back.
   3. Offline: a card scanned, or a member number + PIN typed, while the network is down is
      kept in localStorage with its own key and the time it happened, and sent to data-sync
      when the network returns; the server checks the card or PIN then. */
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
    var fields = {at: String(item.at), key: item.key, csrf_token: body.dataset.csrf};
    if (item.card) fields.card = item.card;
    if (item.number) { fields.number = item.number; fields.pin = item.pin || ""; }
    fetch(body.dataset.sync, {method: "POST", body: new URLSearchParams(fields),
                              credentials: "same-origin",
                              headers: {"X-CSRFToken": body.dataset.csrf}})
      .then(function (response) {
        sending = false;
        if (response.ok || response.status === 422) {
          // Delivered, or refused for good (an unknown card, a wrong PIN, which the server
          // flags): either way not sent again, and a PIN leaves this screen's storage now.
          save(queue().filter(function (x) { return x.key !== item.key; }));
          if (!queue().length && note) { showNote(note.dataset.sent); }
          flush();
        } else {
          setTimeout(flush, 30000);  // busy (429) or failing: try again later, same key
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

  // --- the keypad -------------------------------------------------------------------------
  var LONGEST = {number: 12, pin: 6};
  var pending = [];  // taps made while the keypad's request was in flight
  var offlineKeypad = document.getElementById("offline-keypad");
  var identify = document.getElementById("identify");

  function show(form) {
    var stage = form.elements.stage.value;
    var value = form.elements[stage].value;
    var display = form.querySelector(".keypad-display");
    display.querySelector(".keypad-label").textContent = display.dataset[stage];
    display.querySelector(".keypad-shown").textContent =
      value ? (stage === "pin" ? "●".repeat(value.length) : value) : "—";
    var ok = form.querySelector("button[value=ok]");
    ok.textContent = stage === "pin" ? ok.dataset.ok : ok.dataset.next;
  }

  function keepOffline(form) {
    // Kept only until the network is back: the server must check the PIN (only it holds
    // the hash), and a kiosk may be restarted meanwhile, so it sits in localStorage — on a
    // screen anyone can walk up to. So it is stored for as short as possible: it is the
    // last thing typed, it is removed the moment the server answers (accepted or refused),
    // and it never reaches the page again (the keypad is emptied at once).
    var items = queue();
    items.push({number: form.elements.number.value, pin: form.elements.pin.value,
                at: Date.now(), key: newKey()});
    save(items);
    form.elements.number.value = form.elements.pin.value = "";
    form.elements.stage.value = "number";
    show(form);
    showNote(note && note.dataset.saved);
    if (offlineKeypad && offlineKeypad.contains(form)) {
      offlineKeypad.hidden = true;
      identify.hidden = false;
    }
  }

  function tap(form, key) {
    var stage = form.elements.stage.value === "pin" ? "pin" : "number";
    var field = form.elements[stage];
    if (/^[0-9]$/.test(key)) {
      if (field.value.length < LONGEST[stage]) field.value += key;
    } else if (key === "back") {
      field.value = field.value.slice(0, -1);
    } else if (key === "ok" && stage === "number") {
      if (field.value) form.elements.stage.value = "pin";
    } else if (key === "ok") {
      if (!field.value) return false;
      if (!navigator.onLine) { keepOffline(form); return false; }
      return true;  // the one request: sent by htmx (or the plain form)
    }
    show(form);
    return false;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("#keypad button[name=key]");
    if (!button) return;
    var form = button.form;
    if (form.classList.contains("htmx-request")) {
      event.preventDefault();
      pending.push(button.value);
      return;
    }
    if (!tap(form, button.value)) event.preventDefault();
  });

  document.addEventListener("htmx:afterSwap", function () {
    var form = document.getElementById("keypad");
    var taps = pending;
    pending = [];
    if (!form) return;
    for (var i = 0; i < taps.length; i++) {
      if (tap(form, taps[i])) {
        pending = taps.slice(i + 1);  // replayed after the next answer
        form.querySelector("button[value=ok]").click();
        return;
      }
    }
  });

  // Offline on the start screen the keypad page cannot load: show its copy here instead.
  var pinLink = document.getElementById("pin-link");
  if (pinLink && offlineKeypad) {
    pinLink.addEventListener("click", function (event) {
      if (navigator.onLine) return;
      event.preventDefault();
      identify.hidden = true;
      offlineKeypad.hidden = false;
    });
    document.getElementById("offline-keypad-back").addEventListener("click", function () {
      offlineKeypad.hidden = true;
      identify.hidden = false;
      var form = offlineKeypad.querySelector("form");
      form.elements.number.value = form.elements.pin.value = "";
      form.elements.stage.value = "number";
      show(form);
    });
  }

  window.addEventListener("offline", function () { showNote(); });
  window.addEventListener("online", flush);
  // A network lost while this page was still loading fired no "offline" event here.
  if (!navigator.onLine) showNote();
  flush();
})();
