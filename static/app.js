// Make htmx failures visible. With hx-boost on the body htmx swaps nothing for a 4xx/5xx
// answer and nothing at all when the network is gone, so an elder taps again and again.
// This island shows the error page's own message (already in the reader's language) or the
// lost-connection text from the page, in an alert above the content; the page stays as it
// was, so a form keeps what was typed. Without JavaScript the browser shows the error page.
(function () {
  "use strict";

  function box() {
    return document.getElementById("htmx-alert");
  }

  function show(text) {
    var alert = box();
    if (!alert || !text) return;
    alert.textContent = text;
    alert.hidden = false;
    alert.scrollIntoView({ block: "nearest" });
  }

  function messageOf(xhr) {
    // The error page's heading and explanation, as text (never inserted as HTML).
    var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var heading = doc.querySelector("main h1");
    var lead = doc.querySelector("main .lead");
    var parts = [heading, lead]
      .filter(Boolean)
      .map(function (node) { return node.textContent.trim(); })
      .filter(Boolean);
    return parts.length ? parts.join(" ") : document.body.dataset.errorMessage;
  }

  document.addEventListener("htmx:beforeRequest", function () {
    var alert = box();
    if (alert) alert.hidden = true;
  });
  document.addEventListener("htmx:responseError", function (event) {
    show(messageOf(event.detail.xhr));
  });
  document.addEventListener("htmx:sendError", function () {
    show(document.body.dataset.offlineMessage);
  });

  // The hours form narrows its services when the team changes (the server sends the
  // service field again): a service chosen while that was on its way stays chosen.
  var chosenService = "";
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "service-field") return;
    var select = target.querySelector("select");
    chosenService = select ? select.value : "";
  });
  document.addEventListener("htmx:afterSwap", function () {
    var field = document.getElementById("service-field");
    var select = field && field.querySelector("select");
    if (!select || !chosenService || chosenService === "0") return;
    if (select.querySelector('option[value="' + chosenService + '"]')) select.value = chosenService;
    chosenService = "";
  });

  // A boosted page swaps only the body, so the <html> element keeps the mode and language
  // of the page before: after registering (a member born 1961 or earlier starts in 长辈版)
  // or logging in on another device, take them from the new page's <main>.
  document.addEventListener("htmx:afterSettle", function () {
    var main = document.getElementById("main");
    if (!main || !main.dataset.mode) return;
    document.documentElement.classList.toggle("elder", main.dataset.mode === "elder");
    if (main.dataset.lang) document.documentElement.lang = main.dataset.lang;
  });
})();
