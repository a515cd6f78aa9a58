/* Camera widget: getUserMedia (front camera), an oval guide, spoken-style status text, frames posted as JPEG.
   When the camera cannot be used (refused, missing, or silent for CAMERA_WAIT ms) the upload form opens; the
   upload is sent from here too, so a refused upload keeps the section open and the chosen files in place. */
(function () {
  "use strict";
  var CAMERA_WAIT = 15000;
  var box = document.querySelector(".camera-box");
  if (!box) { return; }
  var data = JSON.parse(document.getElementById("camera-data").textContent);
  var text = data.text;
  var challenge = data.challenge;
  var video = box.querySelector("video");
  var status = box.querySelector(".status-text");
  var startButton = box.querySelector("[data-start]");
  var retryButton = box.querySelector("[data-retry]");
  var fallback = box.querySelector("details.fallback");
  var uploadForm = box.querySelector(".upload-form");
  var uploadStatus = box.querySelector("[data-upload-status]");
  var csrf = box.querySelector("input[name=csrf_token]").value;
  var stream = null;
  var position = null;
  var starting = 0;  // which press of the start button is being waited for (a late camera from an old press is closed)

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

  // the page's location script (check-in and check-out pages) finds the position and fills the forms' fields
  function locate() {
    if (!box.dataset.geo || !window.volunteerLocation) { return Promise.resolve(null); }
    say(text.locating);
    return window.volunteerLocation.refresh().then(function (p) { if (!p) { say(text.noLocation); } return p; });
  }

  function post(url, form) {
    return fetch(url, { method: "POST", body: form, credentials: "same-origin",
                        headers: { "Accept": "application/json" } })
      .then(function (r) {
        // a refusal comes as 422 (429 for too many attempts, 413 too large ...) with the same JSON and its message
        return r.json().then(function (result) { result.ok = r.ok && result.ok === true; return result; });
      });
  }

  function send(field, blobs, extra) {
    var form = new FormData();
    form.append("csrf_token", csrf);
    uploadForm.querySelectorAll("input[type=hidden]").forEach(function (input) {
      if (input.name !== "csrf_token" && input.name !== "token") { form.append(input.name, input.value); }
    });
    Object.keys(extra).forEach(function (k) { form.set(k, extra[k]); });
    blobs.forEach(function (blob, i) { form.append(field, blob, field + i + ".jpg"); });
    say(text.sending);
    return post(box.dataset.action, form);
  }

  function useChallenge(c) {
    challenge = c;
    var token = uploadForm.querySelector("input[name=token]");
    if (token) { token.value = c.token; }
    c.labels.forEach(function (label, i) {  // the upload fields follow the new instructions
      var caption = uploadForm.querySelector("label[for=up-" + (i + 1) + "]");
      if (caption) { caption.textContent = (i + 1) + ". " + label; }
    });
    return c;
  }

  function newChallenge() {
    var form = new FormData();
    form.append("csrf_token", csrf);
    return fetch(box.dataset.challengeUrl, {
      method: "POST", body: form, credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (r) {
      return r.json().then(function (c) { return r.ok ? useChallenge(c) : Promise.reject(c); });
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
    var c = challenge;
    var chain = Promise.resolve();
    (c ? c.labels : [null]).forEach(function (label) {
      chain = chain.then(function () { say(label || text.getReady); return wait(2500); })
        .then(capture).then(function (b) { blobs.push(b); });
    });
    return chain.then(function () {
      var extra = {};
      if (c) { extra.token = c.token; }
      if (position) { extra.latitude = position.latitude; extra.longitude = position.longitude; }
      return send("frame", blobs, extra);
    });
  }

  function showReview(result) {
    var review = document.querySelector("[data-review]");
    if (!result.ok && result.review && review) { review.hidden = false; }
  }

  function leave(result) {
    setTimeout(function () { window.location.href = result.next || box.dataset.next || window.location.href; }, 1500);
  }

  function finish(result) {
    say(result.message || "");
    box.dataset.result = result.ok ? "ok" : "failed";
    showReview(result);
    if (result.ok && (result.next || box.dataset.next)) {
      leave(result);
    } else if (!result.ok) {
      retryButton.hidden = false;
    }
  }

  function run() {
    startButton.hidden = true;
    retryButton.hidden = true;
    var job = box.dataset.mode === "enrol" ? runEnrol : runVerify;
    return locate().then(function (p) { position = p || position; return job(); })
      .then(finish)
      .catch(function () { say(text.network); retryButton.hidden = false; });
  }

  function cameraFailed(message) {
    say(message);
    startButton.disabled = false;
    fallback.open = true;
  }

  startButton.addEventListener("click", function () {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { cameraFailed(text.noCamera); return; }
    var attempt = ++starting;
    startButton.disabled = true;
    say(text.starting);
    var timer = setTimeout(function () {
      if (attempt === starting) { starting++; cameraFailed(text.cameraTimeout); }
    }, CAMERA_WAIT);
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
                                          audio: false })
      .then(function (s) {
        if (attempt !== starting) { s.getTracks().forEach(function (t) { t.stop(); }); return Promise.reject("late"); }
        stream = s; video.srcObject = s; return video.play();
      })
      .then(function () {
        if (attempt !== starting) { return; }
        clearTimeout(timer);
        startButton.disabled = false;
        return run();
      })
      .catch(function (problem) {
        if (problem === "late" || attempt !== starting) { return; }
        clearTimeout(timer);
        cameraFailed(text.noCamera);
      });
  });

  retryButton.addEventListener("click", function () {
    var again = box.dataset.mode === "verify" && challenge ? newChallenge() : Promise.resolve();
    again.then(run, function (problem) { say((problem && problem.message) || text.network); });
  });

  // The upload, sent from here: on a refusal the section stays open with every chosen file still chosen.
  uploadForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (uploadForm.dataset.sending) { return; }
    uploadForm.dataset.sending = "1";
    var button = uploadForm.querySelector("button[type=submit]");
    button.disabled = true;
    uploadStatus.textContent = text.sending;
    var located = box.dataset.geo && window.volunteerLocation ? window.volunteerLocation.current() : Promise.resolve();
    located.then(function () { return post(box.dataset.action, new FormData(uploadForm)); })
      .then(function (result) {
        uploadStatus.textContent = result.message || "";
        box.dataset.result = result.ok ? "ok" : "failed";
        if (result.ok) {
          say(result.message || "");
          if (result.next || box.dataset.next) { leave(result); }
          return;
        }
        showReview(result);
        var token = uploadForm.querySelector("input[name=token]");
        return token ? newChallenge() : null;  // the refused attempt spent its challenge
      })
      .catch(function () { uploadStatus.textContent = text.network; })
      .then(function () {
        if (box.dataset.result !== "ok") { delete uploadForm.dataset.sending; button.disabled = false; }
      });
  });

  window.addEventListener("pagehide", function () {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
  });
}());
