/* The report form: "use my location" (WGS-84 with its accuracy; without it the "enter the place by hand" fields
   open), a typed place marks itself as a pin, the
   photo count and size checked before sending, open reports of the same kind nearby offered first, and what
   becomes public said for the kind chosen. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-report-form]");
  if (!form) { return; }
  var status = form.querySelector("[data-location-status]");
  var lat = form.elements.latitude, lon = form.elements.longitude;
  var source = form.elements.location_source, accuracy = form.elements.accuracy_m;

  var manual = form.querySelector("[data-manual-location]");
  function tell(key, metres) {
    if (status && status.dataset[key]) { status.textContent = status.dataset[key].replace("{m}", metres === undefined ? "" : metres); }
    if (key === "missing" && manual) { manual.open = true; }
  }

  function locate() {
    if (!navigator.geolocation) { tell("missing"); return; }
    tell("locating");
    navigator.geolocation.getCurrentPosition(function (p) {
      lat.value = p.coords.latitude.toFixed(6);
      lon.value = p.coords.longitude.toFixed(6);
      accuracy.value = Math.round(p.coords.accuracy);
      source.value = "gps";
      tell("found", Math.max(1, Math.round(p.coords.accuracy)));  // "about 0 m" would promise too much
      checkNearby();
    }, function () { tell("missing"); }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 0 });
  }

  [lat, lon].forEach(function (input) {
    input.addEventListener("input", function () { source.value = "pin"; accuracy.value = ""; });
    input.addEventListener("change", checkNearby);
  });
  form.elements.category_id.addEventListener("change", checkNearby);

  // what of the report becomes public, for the kind chosen (the page renders the rule for all kinds without JS)
  var publicNote = form.querySelector("[data-what-is-public]");
  function tellWhatIsPublic() {
    var chosen = form.elements.category_id.selectedOptions[0];
    if (publicNote && chosen && chosen.dataset.public) { publicNote.textContent = chosen.dataset.public; }
  }
  form.elements.category_id.addEventListener("change", tellWhatIsPublic);
  tellWhatIsPublic();
  var button = form.querySelector("[data-locate]");
  if (button) { button.addEventListener("click", locate); }
  if (!lat.value) { locate(); }

  var box = form.querySelector("[data-nearby]"), list = form.querySelector("[data-nearby-list]");
  var confirmNew = form.querySelector("[data-confirm-new]");
  function checkNearby() {
    var category = form.elements.category_id.value;
    if (!category || !lat.value || !lon.value) { return; }
    var url = form.dataset.nearbyUrl + "?" + new URLSearchParams({ category_id: category, latitude: lat.value,
                                                                   longitude: lon.value });
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { reports: [] }; })
      .then(function (data) {
        list.textContent = "";
        data.reports.forEach(function (r) {
          var label = document.createElement("label");
          label.className = "choice";
          var input = document.createElement("input");
          input.type = "radio"; input.name = "join_report_id"; input.value = r.id;
          label.appendChild(input);
          label.appendChild(document.createTextNode(" " + r.label));
          list.appendChild(label);
        });
        box.hidden = data.reports.length === 0;
        confirmNew.disabled = data.reports.length === 0;
      })
      .catch(function () { /* the server asks again when the form is sent */ });
  }

  var photos = form.elements.photos, photoError = form.querySelector("[data-photo-error]");
  photos.addEventListener("change", function () {
    var problem = "";
    if (photos.files.length > Number(photos.dataset.maxCount)) { problem = photos.dataset.tooMany; }
    Array.prototype.forEach.call(photos.files, function (f) {
      if (f.size > Number(photos.dataset.maxBytes)) { problem = photos.dataset.tooBig; }
    });
    photoError.textContent = problem;
    photos.setCustomValidity(problem);
  });
}());
