/* Location for checking in and out: found once when the page opens and written into every latitude/longitude field
   (the camera's upload, "check in for review"), found afresh when the camera starts. A form marked
   data-needs-location waits for the answer (or the refusal, or the time limit) before it is sent. */
(function () {
  "use strict";
  var root = document.querySelector("[data-geo]");
  if (!root) { return; }
  var note = document.querySelector("[data-location-status]");
  var latest = null;

  function tell(key) { if (note && note.dataset[key]) { note.textContent = note.dataset[key]; } }

  function fill(p) {
    if (!p) { return; }
    document.querySelectorAll("input[name=latitude]").forEach(function (i) { i.value = p.latitude; });
    document.querySelectorAll("input[name=longitude]").forEach(function (i) { i.value = p.longitude; });
  }

  function locate() {
    if (!navigator.geolocation) { tell("missing"); return Promise.resolve(latest); }
    tell("locating");
    return new Promise(function (resolve) {
      navigator.geolocation.getCurrentPosition(
        function (p) { resolve({ latitude: p.coords.latitude, longitude: p.coords.longitude }); },
        function () { resolve(null); },
        { enableHighAccuracy: true, timeout: 10000, maximumAge: 0 });
    }).then(function (p) {
      latest = p || latest;
      fill(latest);
      tell(latest ? "found" : "missing");
      return latest;
    });
  }

  var pending = locate();
  window.volunteerLocation = {
    current: function () { return pending; },
    refresh: function () { pending = locate(); return pending; }
  };

  document.querySelectorAll("form[data-needs-location]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.located) { return; }  // the second time round: send it
      event.preventDefault();
      if (form.dataset.locating) { return; }
      form.dataset.locating = "1";
      pending.then(function () {
        form.dataset.located = "1";
        // after this submit event has finished (a form ignores a new submission while its event is dispatched)
        setTimeout(function () { if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); } }, 0);
      });
    });
  });
}());
