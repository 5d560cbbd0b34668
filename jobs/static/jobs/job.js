// Live job page: polls the status endpoint, appends new log lines, updates state and progress,
// and reloads once the job has ended. Without JavaScript a reload shows the same.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) return;
  var statusUrl = root.dataset.statusUrl;
  var lastSeq = parseInt(root.dataset.lastSeq, 10) || 0;
  var FINAL = ["succeeded", "failed", "cancelled"];
  var LABELS = { queued: "Queued", running: "Running", cancelling: "Cancelling",
    succeeded: "Succeeded", failed: "Failed", cancelled: "Cancelled" };
  var POLL_MS = 1000;

  function humanSize(n) {
    var units = ["bytes", "KB", "MB", "GB", "TB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? n + " bytes" : n.toFixed(1) + " " + units[i];
  }

  function appendLines(lines) {
    var log = document.getElementById("job-log");
    var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    var empty = document.getElementById("job-log-empty");
    if (empty && lines.length) empty.remove();
    lines.forEach(function (line) {
      var span = document.createElement("span");
      span.className = line.stream;
      span.dataset.seq = line.seq;
      span.textContent = line.text + "\n";
      log.appendChild(span);
      lastSeq = Math.max(lastSeq, line.seq);
    });
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  function showProgress(p, state) {
    // Bytes move smoothly during downloads; items count for work without bytes.
    var total = p.bytes_total || p.items_total;
    var done = p.bytes_total ? p.bytes_done : p.items_done;
    var percent = total ? Math.min(100, Math.floor(done * 100 / total)) : (state === "succeeded" ? 100 : 0);
    document.getElementById("job-progress-bar").style.width = percent + "%";
    document.getElementById("job-progress-bar").parentNode.setAttribute("aria-valuenow", percent);
    document.getElementById("job-items").textContent = p.items_done + " of " + p.items_total + " items";
    document.getElementById("job-bytes").textContent = humanSize(p.bytes_done) + " of " + humanSize(p.bytes_total);
  }

  function showState(data) {
    var badge = document.getElementById("job-state");
    badge.className = "badge " + data.state;
    badge.textContent = LABELS[data.state] || data.state;
    var error = document.getElementById("job-error");
    error.textContent = data.error;
    error.hidden = !data.error;
    var cancel = document.getElementById("job-cancel");
    if (cancel && data.state !== "queued" && data.state !== "running") cancel.hidden = true;
  }

  function poll() {
    fetch(statusUrl + "?after=" + lastSeq, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      })
      .then(function (data) {
        appendLines(data.lines);
        showProgress(data.progress, data.state);
        showState(data);
        var ended = FINAL.indexOf(data.state) !== -1;
        if (!ended) { setTimeout(poll, POLL_MS); return; }
        // More lines than one answer carries: fetch the rest right away; then show the page
        // as the server renders an ended job (timestamps, no Cancel).
        if (data.lines.length) setTimeout(poll, 0);
        else window.location.reload();
      })
      .catch(function () { setTimeout(poll, POLL_MS * 5); });
  }

  if (root.dataset.final !== "1") setTimeout(poll, POLL_MS);
})();
