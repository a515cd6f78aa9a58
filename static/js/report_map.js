/* Report maps (Leaflet from static/vendor): markers of a page of reports, and on the report form a pin that can be
   moved by hand. Coordinates are stored in WGS-84; when the configured tiles are GCJ-02, points are shifted for
   display only (the server already shifted the markers; the pin converts both ways). Without Leaflet or tiles the
   pages still work: the list under the map, the typed latitude and longitude. */
(function () {
  "use strict";
  var A = 6378245.0, EE = 0.00669342162296594323;
  function outside(lat, lon) { return !(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271); }
  function tLat(x, y) {
    var r = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += (20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2 / 3;
    r += (20 * Math.sin(y * Math.PI) + 40 * Math.sin(y / 3 * Math.PI)) * 2 / 3;
    r += (160 * Math.sin(y / 12 * Math.PI) + 320 * Math.sin(y * Math.PI / 30)) * 2 / 3;
    return r;
  }
  function tLon(x, y) {
    var r = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += (20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2 / 3;
    r += (20 * Math.sin(x * Math.PI) + 40 * Math.sin(x / 3 * Math.PI)) * 2 / 3;
    r += (150 * Math.sin(x / 12 * Math.PI) + 300 * Math.sin(x / 30 * Math.PI)) * 2 / 3;
    return r;
  }
  function toGcj(lat, lon) {
    if (outside(lat, lon)) { return [lat, lon]; }
    var dLat = tLat(lon - 105, lat - 35), dLon = tLon(lon - 105, lat - 35);
    var rad = lat / 180 * Math.PI, magic = 1 - EE * Math.sin(rad) * Math.sin(rad), s = Math.sqrt(magic);
    dLat = (dLat * 180) / ((A * (1 - EE)) / (magic * s) * Math.PI);
    dLon = (dLon * 180) / (A / s * Math.cos(rad) * Math.PI);
    return [lat + dLat, lon + dLon];
  }
  function toWgs(lat, lon) {
    var w = [lat, lon];
    for (var i = 0; i < 10; i++) { var g = toGcj(w[0], w[1]); w = [w[0] - (g[0] - lat), w[1] - (g[1] - lon)]; }
    return w;
  }
  //: the draggable pin, drawn inline (an emoji shows as an empty box on phones without an emoji font)
  var PIN_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 42" aria-hidden="true" focusable="false">' +
    '<path d="M16 1C7.7 1 1 7.6 1 15.8 1 27 16 41 16 41s15-14 15-25.2C31 7.6 24.3 1 16 1z" fill="#c8102e" ' +
    'stroke="#fff" stroke-width="2"/><circle cx="16" cy="15.5" r="5.5" fill="#fff"/></svg>';
  var api = { toGcj: toGcj, toWgs: toWgs };
  if (typeof module !== "undefined") { module.exports = api; return; }  // the unit test runs this file in node
  window.reportMap = api;
  if (!window.L) { return; }

  function baseMap(el, settings, center) {
    var map = L.map(el, { attributionControl: Boolean(settings.tile_url), zoomControl: false }).setView(center, 15);
    // the zoom buttons' titles in the page's language (the page passes them translated)
    L.control.zoom({ zoomInTitle: el.getAttribute("data-zoom-in") || "+",
                     zoomOutTitle: el.getAttribute("data-zoom-out") || "-" }).addTo(map);
    if (settings.tile_url) {
      L.tileLayer(settings.tile_url, { maxZoom: 18, attribution: settings.attribution || "" }).addTo(map);
    }
    return map;
  }

  // a page of markers
  var el = document.querySelector("[data-report-map]");
  if (el) {
    var data = JSON.parse(document.getElementById("map-data").textContent);
    var points = data.markers.map(function (m) { return [m.lat, m.lon]; });
    var map = baseMap(el, data.map, points.length ? points[0] : [30.2741, 120.1551]);
    data.markers.forEach(function (m) {
      var marker = L.circleMarker([m.lat, m.lon], {
        radius: 9, weight: 2, color: m.overdue ? "#b3261e" : "#1f5fa8", fillOpacity: 0.7,
        fillColor: m.overdue ? "#e4574c" : "#3d85d8"
      }).addTo(map);
      var link = document.createElement("a");
      link.href = m.url;
      link.textContent = m.label;
      marker.bindPopup(link);
      marker.getElement && marker.getElement() && marker.getElement().setAttribute("data-report-id", m.id);
    });
    if (points.length > 1) { map.fitBounds(points, { padding: [24, 24], maxZoom: 17 }); }
    el.setAttribute("data-ready", "1");
  }

  // the report form: a pin to move by hand (progressive enhancement over the typed latitude and longitude). The
  // page has the map only when tiles are configured: a pin on a blank background shows nothing to go by.
  var form = document.querySelector("form[data-report-form]");
  var holder = form && form.querySelector("[data-pin-map]");
  var settings = holder ? JSON.parse(holder.getAttribute("data-map")) : {};
  if (form && holder && settings.tile_url) {
    var lat = form.elements.latitude, lon = form.elements.longitude;
    var show = function (la, lo) { return settings.gcj02 ? toGcj(la, lo) : [la, lo]; };
    var start = lat.value && lon.value ? show(Number(lat.value), Number(lon.value)) : [30.2741, 120.1551];
    holder.hidden = false;
    var pinMap = baseMap(holder, settings, start);
    var pin = L.marker(start, { draggable: true, keyboard: true, title: holder.getAttribute("data-pin-label"),
                                icon: L.divIcon({ className: "pin-icon", html: PIN_SVG, iconSize: [32, 42], iconAnchor: [16, 42] }) })
      .addTo(pinMap);
    var place = function () {
      if (!lat.value || !lon.value || isNaN(Number(lat.value)) || isNaN(Number(lon.value))) { return; }
      var p = show(Number(lat.value), Number(lon.value));
      pin.setLatLng(p);
      pinMap.panTo(p);
    };
    pin.on("dragend", function () {
      var p = pin.getLatLng(), w = settings.gcj02 ? toWgs(p.lat, p.lng) : [p.lat, p.lng];
      lat.value = w[0].toFixed(6);
      lon.value = w[1].toFixed(6);
      form.elements.location_source.value = "pin";
      form.elements.accuracy_m.value = "";
      lon.dispatchEvent(new Event("change"));  // report.js looks for open reports nearby
    });
    [lat, lon].forEach(function (input) { input.addEventListener("change", place); });
    var status = form.querySelector("[data-location-status]");
    if (status && window.MutationObserver) {  // "use my location" filled the fields
      new MutationObserver(place).observe(status, { childList: true, characterData: true, subtree: true });
    }
    holder.setAttribute("data-ready", "1");
  }
}());
