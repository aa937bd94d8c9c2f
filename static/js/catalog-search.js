// Results as you type: fetch the results and facets of the current query and swap them in.
// Without JavaScript the search form submits normally.
(function () {
  "use strict";
  var form = document.getElementById("catalog-search");
  var results = document.getElementById("results");
  var facets = document.getElementById("facets");
  if (!form || !results || !facets || !window.fetch) { return; }
  var box = form.querySelector("input[name=search]");
  var defaultSort = form.querySelector("select[name=sort] option[value='']");
  var timer = null;
  var latest = 0;

  function queryString() {
    var params = new URLSearchParams(new FormData(form));
    params.delete("page");
    return params;
  }

  function refresh() {
    var params = queryString();
    var ticket = ++latest;
    params.set("partial", "1");
    fetch(form.dataset.partialUrl + "?" + params.toString(), {
      headers: { "X-Requested-With": "fetch" }, credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) { throw new Error(response.status); }
      return response.text();
    }).then(function (html) {
      if (ticket !== latest) { return; }  // a newer request is on its way
      var update = new DOMParser().parseFromString(html, "text/html");
      results.innerHTML = update.getElementById("results-update").innerHTML;
      facets.innerHTML = update.getElementById("facets-update").innerHTML;
      // The default order is relevance for a search, names otherwise (as the page renders it).
      defaultSort.textContent = box.value.trim() ? "Relevance" : "Name (A–Z)";
      params.delete("partial");
      window.history.replaceState(null, "", "?" + params.toString());
    }).catch(function () { /* keep the current results; the form still submits */ });
  }

  // Dataset names as you type, from the cheap typeahead endpoint (names only, 8 at most).
  var suggestions = document.getElementById("search-suggestions");
  var suggested = 0;
  function suggest() {
    var text = box.value.trim();
    var ticket = ++suggested;
    if (!suggestions || !form.dataset.typeaheadUrl || text.length < 2) { return; }
    fetch(form.dataset.typeaheadUrl + "?q=" + encodeURIComponent(text), {
      headers: { "Accept": "application/json" }, credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) { throw new Error(response.status); }
      return response.json();
    }).then(function (body) {
      if (ticket !== suggested) { return; }
      suggestions.replaceChildren();
      body.results.forEach(function (row) {
        var option = document.createElement("option");
        option.value = row.name;
        option.label = row.title || row.name;
        suggestions.appendChild(option);
      });
    }).catch(function () { /* no suggestions; search still works */ });
  }

  box.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 200);
    suggest();
  });
  form.querySelector("select[name=sort]").addEventListener("change", function () { form.submit(); });
})();
