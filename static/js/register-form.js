// Show only the fields of the chosen source (file path, upload, or connection + table).
// Without JavaScript every field is shown and the server ignores the ones not chosen.
(function () {
  "use strict";
  var form = document.getElementById("register-form");
  if (!form) { return; }
  var radios = form.querySelectorAll("input[name=source_kind]");
  function update() {
    var chosen = form.querySelector("input[name=source_kind]:checked");
    var kind = chosen ? chosen.value : "file";
    form.querySelectorAll("[data-source]").forEach(function (el) {
      el.classList.toggle("js-hidden", el.dataset.source !== kind);
    });
  }
  radios.forEach(function (r) { r.addEventListener("change", update); });
  update();
})();
