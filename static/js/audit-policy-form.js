// Policy form: "Add" buttons append an example check to the JSON list (the form works without).
(function () {
  "use strict";
  var area = document.getElementById("id_checks");
  if (!area) { return; }
  document.querySelectorAll("button.add-check").forEach(function (button) {
    button.style.display = "";  // shown only when this script runs
    button.addEventListener("click", function () {
      var checks;
      try { checks = JSON.parse(area.value || "[]"); } catch (e) { checks = null; }
      if (!Array.isArray(checks)) {
        window.alert("The checks are not a valid JSON list yet; fix them first.");
        return;
      }
      checks.push(JSON.parse(button.dataset.example));
      area.value = JSON.stringify(checks, null, 2);
      area.focus();
    });
  });
}());
