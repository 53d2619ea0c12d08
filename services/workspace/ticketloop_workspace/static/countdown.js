// Keeps every <time data-due="ISO instant"> counting down (or up, once overdue) without a reload.
// Pages work without it: the server already printed the time left when it rendered the page.
(function () {
  "use strict";
  function text(ms) {
    var late = ms < 0, s = Math.floor(Math.abs(ms) / 1000);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60, out;
    if (h >= 48) { out = Math.floor(h / 24) + " d " + (h % 24) + " h"; }
    else if (h) { out = h + " h " + String(m).padStart(2, "0") + " min"; }
    else if (m) { out = m + " min " + String(sec).padStart(2, "0") + " s"; }
    else { out = sec + " s"; }
    return late ? "overdue by " + out : "in " + out;
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) { return; }
      el.textContent = text(due - now);
      el.classList.toggle("overdue", due < now);
    });
  }
  document.addEventListener("DOMContentLoaded", tick);
  setInterval(tick, 1000);
})();
