// Live job page: polls the status endpoint, appends new log lines (each with its time), updates
// state, times, counts, speed, time left and the item rows, and stops once the job has ended
// (no reload: the page is already what the server renders). Without JavaScript a reload shows the same.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) return;
  var statusUrl = root.dataset.statusUrl;
  var lastSeq = parseInt(root.dataset.lastSeq, 10) || 0;
  var FINAL = ["succeeded", "failed", "cancelled"];
  var POLL_MS = (Number(document.body.dataset.pollMs) || 2000) / 2;

  function humanSize(n) {
    var units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? n + (n === 1 ? " byte" : " bytes") : n.toFixed(1) + " " + units[i];
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  // The server sends times in the site's time zone ("2026-11-26T15:56:48+00:00"): shown as it
  // prints them, "2026-11-26 15:56:48".
  function wallTime(iso) {
    return iso ? iso.slice(0, 19).replace("T", " ") : "–";
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
      var time = document.createElement("time");
      time.textContent = line.time;
      span.appendChild(time);
      span.appendChild(document.createTextNode(" " + line.text + "\n"));
      log.appendChild(span);
      lastSeq = Math.max(lastSeq, line.seq);
    });
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  function showProgress(data) {
    // Bytes move smoothly during downloads; items count for work without bytes.
    var p = data.progress;
    var total = p.bytes_total || p.items_total;
    var done = p.bytes_total ? p.bytes_done : p.items_done;
    var percent = total ? Math.min(100, Math.floor(done * 100 / total)) : (data.state === "succeeded" ? 100 : 0);
    var bar = document.getElementById("job-progress-bar");
    bar.style.width = percent + "%";
    bar.parentNode.setAttribute("aria-valuenow", percent);
    bar.parentNode.hidden = !total;
    setText("job-items", data.items_text);
    var bytes = document.getElementById("job-bytes");
    bytes.textContent = " · " + humanSize(p.bytes_done) + " of " + humanSize(p.bytes_total);
    bytes.hidden = !p.bytes_total;
    setText("job-speed", data.speed_text ? " · " + data.speed_text : "");
    setText("job-eta", data.eta_text ? " · " + data.eta_text : "");
  }

  function itemRow(item) {
    var row = document.getElementById("job-item-" + item.key);
    if (row) return row;
    row = document.createElement("li");
    row.id = "job-item-" + item.key;
    row.className = "job-item";
    row.dataset.key = item.key;
    var title = document.createElement("span");
    title.className = "job-item-title";
    title.textContent = item.title || item.key;
    var badge = document.createElement("span");
    badge.className = "badge";
    var error = document.createElement("span");
    error.className = "job-item-error muted";
    var progress = document.createElement("div");
    progress.className = "progress";
    progress.setAttribute("role", "progressbar");
    progress.setAttribute("aria-label", item.title || item.key);
    progress.setAttribute("aria-valuemin", "0");
    progress.setAttribute("aria-valuemax", "100");
    progress.appendChild(document.createElement("div"));
    [title, document.createTextNode(" "), badge, document.createTextNode(" "), error, progress]
      .forEach(function (el) { row.appendChild(el); });
    document.getElementById("job-downloads").appendChild(row);
    return row;
  }

  function showItems(items) {
    var list = document.getElementById("job-downloads");
    if (!list || !items.length) return;
    list.hidden = false;
    items.forEach(function (item) {
      var row = itemRow(item);
      var badge = row.querySelector(".badge");
      badge.className = "badge " + item.state;
      badge.textContent = item.state === "downloading" ? "Downloading " + item.percent + "%" : item.state_label;
      row.querySelector(".job-item-error").textContent = item.error;
      var progress = row.querySelector(".progress");
      progress.setAttribute("aria-valuenow", item.percent);
      progress.firstChild.style.width = item.percent + "%";
    });
  }

  function showState(data) {
    var badge = document.getElementById("job-state");
    badge.className = "badge " + data.state;
    badge.textContent = data.state_label;
    setText("job-title", data.title);
    var retry = document.getElementById("job-retry");
    retry.textContent = data.retry_text;
    retry.hidden = !data.retry_text;
    setText("job-started", wallTime(data.started_at));
    setText("job-finished", wallTime(data.finished_at));
    var error = document.getElementById("job-error");
    error.textContent = data.error;
    error.hidden = !data.error;
    var summary = document.getElementById("job-summary");
    summary.textContent = data.summary;
    summary.hidden = !data.summary;
    var cancel = document.getElementById("job-cancel");
    if (cancel && data.state !== "queued" && data.state !== "running") cancel.remove();
    var retryNow = document.getElementById("job-retry-now");
    if (retryNow && !data.retry_text) retryNow.remove();
    if (!data.finished_at && data.duration_text) setText("job-duration", data.duration_text);
  }

  function tookText(started, finished) {
    if (!started || !finished) return "–";
    var seconds = Math.max(0, Math.floor((Date.parse(finished) - Date.parse(started)) / 1000));
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min " + (seconds % 60) + " s";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function poll() {
    fetch(statusUrl + "?after=" + lastSeq, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      })
      .then(function (data) {
        appendLines(data.lines);
        showProgress(data);
        showItems(data.items);
        showState(data);
        var ended = FINAL.indexOf(data.state) !== -1;
        if (!ended) { setTimeout(poll, POLL_MS); return; }
        // More lines than one answer carries: fetch the rest right away; then stop polling.
        if (data.lines.length) setTimeout(poll, 0);
        else setText("job-duration", tookText(data.started_at, data.finished_at));
      })
      .catch(function () { setTimeout(poll, POLL_MS * 5); });
  }

  // Cancel says what it stops and asks first; dismissing changes nothing.
  document.addEventListener("submit", function (event) {
    var question = event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  if (root.dataset.final !== "1") setTimeout(poll, POLL_MS);
})();
