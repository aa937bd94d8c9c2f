/* Pan and zoom for the server-rendered lineage SVG. Without this file the graph still works:
   nodes are links (expand / open) and the canvas scrolls. */
(function () {
  "use strict";
  function setup(container) {
    var svg = container.querySelector("svg.lineage-svg");
    if (!svg) return;
    var w0 = parseFloat(svg.dataset.width), h0 = parseFloat(svg.dataset.height);
    var canvas = container.querySelector(".lineage-canvas");
    var boxW = Math.max(canvas.clientWidth, 200), boxH = Math.min(Math.max(h0, 260), 640);
    svg.setAttribute("width", "100%");
    svg.setAttribute("height", boxH);
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    canvas.classList.add("lineage-canvas-js");
    // Fit: never enlarge a small graph past its natural size; shrink a big one to fit the box.
    function fit() {
      var scale = Math.min(1, boxW / w0, boxH / h0);
      var w = boxW / scale, h = boxH / scale;
      return { x: (w0 - w) / 2, y: (h0 - h) / 2, w: w, h: h };
    }
    var view = fit();
    function apply() { svg.setAttribute("viewBox", [view.x, view.y, view.w, view.h].join(" ")); }
    function zoom(factor, cx, cy) {
      var nw = Math.min(Math.max(view.w * factor, 120), Math.max(w0, boxW) * 4);
      var nh = nw * (view.h / view.w);
      cx = cx === undefined ? view.x + view.w / 2 : cx;
      cy = cy === undefined ? view.y + view.h / 2 : cy;
      view.x = cx - (cx - view.x) * (nw / view.w);
      view.y = cy - (cy - view.y) * (nh / view.h);
      view.w = nw; view.h = nh; apply();
    }
    function toSvg(evt) {
      var r = svg.getBoundingClientRect();
      return { x: view.x + (evt.clientX - r.left) / r.width * view.w,
               y: view.y + (evt.clientY - r.top) / r.height * view.h };
    }
    svg.addEventListener("wheel", function (evt) {
      evt.preventDefault();
      var p = toSvg(evt);
      zoom(evt.deltaY > 0 ? 1.15 : 1 / 1.15, p.x, p.y);
    }, { passive: false });
    var drag = null;
    svg.addEventListener("pointerdown", function (evt) {
      if (evt.target.closest("a")) return;  // clicks on nodes are links
      drag = { x: evt.clientX, y: evt.clientY, vx: view.x, vy: view.y };
      svg.setPointerCapture(evt.pointerId);
      svg.classList.add("lg-dragging");
    });
    svg.addEventListener("pointermove", function (evt) {
      if (!drag) return;
      var r = svg.getBoundingClientRect();
      view.x = drag.vx - (evt.clientX - drag.x) / r.width * view.w;
      view.y = drag.vy - (evt.clientY - drag.y) / r.height * view.h;
      apply();
    });
    function end() { drag = null; svg.classList.remove("lg-dragging"); }
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    var tools = container.querySelector(".lineage-zoom");
    if (tools) {
      tools.hidden = false;
      tools.addEventListener("click", function (evt) {
        var b = evt.target.closest("button[data-zoom]");
        if (!b) return;
        if (b.dataset.zoom === "in") zoom(1 / 1.25);
        else if (b.dataset.zoom === "out") zoom(1.25);
        else { view = fit(); apply(); }
      });
    }
    apply();
  }
  document.querySelectorAll(".lineage-graph").forEach(setup);
})();
