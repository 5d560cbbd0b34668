// Each server line follows its status JSON (the stored poll answers), so an apply shows without a reload.
(function () {
  "use strict";
  var lines = document.querySelectorAll(".server-line[data-status-url]");
  if (!lines.length) return;
  function refresh() {
    lines.forEach(function (line) {
      fetch(line.dataset.statusUrl, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (status) { if (status && status.line) line.textContent = status.line; })
        .catch(function () {});
    });
  }
  setInterval(refresh, Number(document.body.dataset.pollMs) || 2000);
})();
