/* A timed sale: count down to the opening and enable the card's buttons at the instant, without a reload.
   The server's clock decides (data-now is its time when the page was made); the server also refuses early
   presses, so this only spares people a refusal. Without JavaScript the button stays usable and says why. */
(function () {
  "use strict";
  var el = document.querySelector("[data-countdown]");
  if (!el) { return; }
  var opensAt = Number(el.dataset.opensAt);
  var offset = Number(el.dataset.now) - Date.now(); // server time minus this device's time
  var text = el.querySelector("[data-countdown-text]");
  var card = el.closest(".card") || document;
  var buttons = card.querySelectorAll("button[type=submit]");

  function two(n) { return (n < 10 ? "0" : "") + n; }

  function left() { return opensAt - (Date.now() + offset); }

  function show(ms) {
    var s = Math.ceil(ms / 1000);
    var days = Math.floor(s / 86400);
    var clock = two(Math.floor(s % 86400 / 3600)) + ":" + two(Math.floor(s % 3600 / 60)) + ":" + two(s % 60);
    text.textContent = el.dataset.left.replace("TIME", (days ? days + "d " : "") + clock);
  }

  function tick() {
    var ms = left();
    if (ms <= 0) {
      buttons.forEach(function (b) { b.disabled = false; });
      text.textContent = el.dataset.open;
      el.dataset.state = "open";
      return;
    }
    show(ms);
    setTimeout(tick, Math.min(ms, ms % 1000 || 1000)); // on each second's edge, and exactly at the opening
  }

  if (left() > 0) { buttons.forEach(function (b) { b.disabled = true; }); }
  tick();
}());
