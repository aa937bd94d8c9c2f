// Profiling progress: poll the status endpoint, move the bar, reload when done.
// Without JavaScript a <noscript> meta refresh reloads the page every few seconds.
(function () {
  "use strict";
  var box = document.getElementById("profile-progress");
  if (!box || !window.fetch) { return; }
  var status = box.dataset.status;
  if (status !== "pending" && status !== "running") { return; }
  var bar = box.querySelector("[data-role=bar]");
  var percent = box.querySelector("[data-role=percent]");
  var label = box.querySelector("[data-role=label]");
  var meter = box.querySelector("[role=progressbar]");

  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (bar) { bar.style.width = data.progress + "%"; }
        if (percent) { percent.textContent = data.progress; }
        if (label) { label.textContent = data.label; }
        if (meter) { meter.setAttribute("aria-valuenow", data.progress); }
        if (data.done) { window.location.reload(); return; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 700);
})();
