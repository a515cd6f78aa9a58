/* Camera widget: getUserMedia (front camera), an oval guide, spoken-style status text, frames posted as JPEG. */
(function () {
  "use strict";
  var box = document.querySelector(".camera-box");
  if (!box) { return; }
  var data = JSON.parse(document.getElementById("camera-data").textContent);
  var text = data.text;
  var challenge = data.challenge;
  var video = box.querySelector("video");
  var status = box.querySelector(".status-text");
  var startButton = box.querySelector("[data-start]");
  var retryButton = box.querySelector("[data-retry]");
  var csrf = box.querySelector("input[name=csrf_token]").value;
  var stream = null;
  var position = null;

  function say(message) { status.textContent = message; }
  function wait(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }
  function fill(template, n) { return template.replace("{number}", String(n)); }

  function capture() {
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth || 640;
    canvas.height = video.videoHeight || 480;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.9); });
  }

  function locate() {
    if (!box.dataset.geo || !navigator.geolocation) { return Promise.resolve(null); }
    say(text.locating);
    return new Promise(function (resolve) {
      navigator.geolocation.getCurrentPosition(
        function (p) { resolve({ latitude: p.coords.latitude, longitude: p.coords.longitude }); },
        function () { say(text.noLocation); resolve(null); },
        { enableHighAccuracy: true, timeout: 10000, maximumAge: 0 });
    });
  }

  function send(field, blobs, extra) {
    var form = new FormData();
    form.append("csrf_token", csrf);
    box.querySelectorAll(".upload-form input[type=hidden]").forEach(function (input) {
      if (input.name !== "csrf_token" && input.name !== "token") { form.append(input.name, input.value); }
    });
    Object.keys(extra).forEach(function (k) { form.set(k, extra[k]); });
    blobs.forEach(function (blob, i) { form.append(field, blob, field + i + ".jpg"); });
    say(text.sending);
    return fetch(box.dataset.action, {
      method: "POST", body: form, credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (r) {
      // a refusal comes as 422 (429 for too many attempts, 413 too large ...) with the same JSON and its message
      return r.json().then(function (result) { result.ok = r.ok && result.ok === true; return result; });
    });
  }

  function newChallenge() {
    var form = new FormData();
    form.append("csrf_token", csrf);
    return fetch(box.dataset.challengeUrl, {
      method: "POST", body: form, credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (r) {
      return r.json().then(function (c) {
        if (!r.ok) { return Promise.reject(c); }
        challenge = c;
        return c;
      });
    });
  }

  function runEnrol() {
    var blobs = [];
    var chain = Promise.resolve();
    [1, 2, 3].forEach(function (n) {
      chain = chain.then(function () { say(fill(text.enrolStep, n)); return wait(1200); })
        .then(capture).then(function (b) { blobs.push(b); });
    });
    return chain.then(function () { return send("photo", blobs, {}); });
  }

  function runVerify() {
    var blobs = [];
    var ready = challenge ? Promise.resolve(challenge) : Promise.resolve(null);
    return ready.then(function (c) {
      var chain = Promise.resolve();
      var steps = c ? c.labels : [null];
      steps.forEach(function (label) {
        chain = chain.then(function () { say(label || text.getReady); return wait(2500); })
          .then(capture).then(function (b) { blobs.push(b); });
      });
      return chain.then(function () {
        var extra = {};
        if (c) { extra.token = c.token; }
        if (position) { extra.latitude = position.latitude; extra.longitude = position.longitude; }
        return send("frame", blobs, extra);
      });
    });
  }

  function fillLocation(p) {
    if (!p) { return; }
    document.querySelectorAll("input[name=latitude]").forEach(function (i) { i.value = p.latitude; });
    document.querySelectorAll("input[name=longitude]").forEach(function (i) { i.value = p.longitude; });
  }

  function finish(result) {
    say(result.message || "");
    box.dataset.result = result.ok ? "ok" : "failed";
    var review = document.querySelector("[data-review]");
    if (!result.ok && result.review && review) { review.hidden = false; }
    if (result.ok && (result.next || box.dataset.next)) {
      setTimeout(function () { window.location.href = result.next || box.dataset.next; }, 1500);
    } else if (!result.ok) {
      retryButton.hidden = false;
    }
  }

  function run() {
    startButton.hidden = true;
    retryButton.hidden = true;
    var job = box.dataset.mode === "enrol" ? runEnrol : runVerify;
    return locate().then(function (p) { position = p || position; fillLocation(position); return job(); })
      .then(finish)
      .catch(function () { say(text.network); retryButton.hidden = false; });
  }

  startButton.addEventListener("click", function () {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say(text.noCamera); box.querySelector("details.fallback").open = true; return;
    }
    say(text.starting);
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
                                          audio: false })
      .then(function (s) { stream = s; video.srcObject = s; return video.play(); })
      .then(run)
      .catch(function () { say(text.noCamera); box.querySelector("details.fallback").open = true; });
  });

  retryButton.addEventListener("click", function () {
    var again = box.dataset.mode === "verify" && challenge ? newChallenge() : Promise.resolve();
    again.then(run, function (problem) { say((problem && problem.message) || text.network); });
  });

  if (box.dataset.geo) {  // fill the fallback and review forms too
    var initial = status.textContent;
    locate().then(function (p) { position = p; fillLocation(p); if (!startButton.hidden) { say(initial); } });
  }

  window.addEventListener("pagehide", function () {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
  });
}());
