// Poll a running audit's status and update the progress bar; reload once it finishes.
// Without JavaScript the page refreshes itself (a <noscript> meta refresh).
(function () {
  "use strict";
  var box = document.getElementById("run-progress");
  if (!box || box.dataset.final === "1") { return; }
  var url = box.dataset.statusUrl;
  var bar = document.getElementById("run-progress-bar");
  var text = document.getElementById("run-progress-text");
  var badge = document.getElementById("run-state");
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { setTimeout(tick, 3000); return; }
        if (bar) { bar.style.width = data.progress + "%"; }
        if (text) { text.textContent = data.progress + "%"; }
        if (badge) { badge.textContent = data.state; badge.className = "badge " + data.state; }
        if (data.final) { window.location.reload(); } else { setTimeout(tick, 1000); }
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  setTimeout(tick, 800);
}());
