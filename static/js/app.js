/* Small page behaviours (no inline scripts: the Content-Security-Policy forbids them). */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) { event.preventDefault(); }
  });
  // one submit per form: a double click must not send twice
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.submitted) { event.preventDefault(); return; }
    form.dataset.submitted = "1";
    form.querySelectorAll("button[type=submit]").forEach(function (b) { setTimeout(function () { b.disabled = true; }, 0); });
  });
}());
