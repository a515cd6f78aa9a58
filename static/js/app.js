/* Small page behaviours (no inline scripts: the Content-Security-Policy forbids them). */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) { event.preventDefault(); }
  });
  // One submit per form that changes something: a double click must not send twice. A GET form only asks (a
  // filter, a CSV download that leaves the page where it is): it stays usable.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if ((form.getAttribute("method") || "get").toLowerCase() !== "post" || event.defaultPrevented) { return; }
    if (form.dataset.submitted) { event.preventDefault(); return; }
    form.dataset.submitted = "1";
    form.querySelectorAll("button[type=submit]").forEach(function (b) { setTimeout(function () { b.disabled = true; }, 0); });
  });
  // the staff menu scrolls sideways on a phone: bring the page being shown into sight (without a script the row
  // simply starts at its first item)
  var current = document.querySelector(".nav [aria-current]");
  if (current && current.parentElement.scrollWidth > current.parentElement.clientWidth) {
    var nav = current.parentElement;
    nav.scrollLeft = current.offsetLeft - (nav.clientWidth - current.offsetWidth) / 2;
  }
  // a page shown again by Back (from the browser's page cache) gets its buttons back
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form[data-submitted]").forEach(function (form) {
      delete form.dataset.submitted;
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
    });
  });
}());
