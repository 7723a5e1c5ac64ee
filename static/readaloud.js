/* 朗读 (read aloud) in 长辈版: the browser's own speech synthesis reads the page, a statement
   line or a request. No server and no third party; where the device cannot speak, the
   buttons stay hidden, so no button ever does nothing. */
(function () {
  "use strict";
  if (!("speechSynthesis" in window) || !("SpeechSynthesisUtterance" in window)) return;

  function reveal(root) {
    root.querySelectorAll("button.read-aloud").forEach(function (b) { b.hidden = false; });
  }

  // The words of an element, without the buttons and forms inside it.
  function words(element) {
    var copy = element.cloneNode(true);
    copy.querySelectorAll("button, form, script, .visually-hidden").forEach(function (n) {
      n.remove();
    });
    return copy.textContent.replace(/\s+/g, " ").trim();
  }

  function voiceFor(lang) {
    var wanted = lang.slice(0, 2).toLowerCase();
    var voices = window.speechSynthesis.getVoices();
    for (var i = 0; i < voices.length; i++) {
      if (voices[i].lang && voices[i].lang.slice(0, 2).toLowerCase() === wanted) return voices[i];
    }
    return null;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.read-aloud");
    if (!button) return;
    event.preventDefault();
    var target = button.dataset.read
      ? document.querySelector(button.dataset.read)
      : button.closest("[data-read-scope]");
    if (!target) return;
    var synth = window.speechSynthesis;
    if (synth.speaking) { synth.cancel(); return; }  // a second tap stops it
    var utterance = new window.SpeechSynthesisUtterance(words(target));
    utterance.lang = document.documentElement.lang || "zh-CN";
    var voice = voiceFor(utterance.lang);
    if (voice) utterance.voice = voice;
    utterance.rate = 0.9;
    synth.speak(utterance);
  });

  reveal(document);
  document.addEventListener("htmx:load", function (event) { reveal(event.target); });
})();
