// The overlay page: confirm before removing, select all, copy buttons, and while a build is
// queued or running, its progress and the shown items' states without reloading.
(function () {
  "use strict";
  var root = document.getElementById("overlay");
  if (!root) return;
  var POLL_MS = 2000;

  // Remove (one item or the selected ones) asks first; Cancel changes nothing.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (!button) return;
    var question = button.dataset.confirm;
    if (button.dataset.bulkConfirm) {
      var chosen = document.querySelectorAll('input[form="bulk-items"][name="steam_id"]:checked').length;
      if (!chosen) {
        event.preventDefault();
        window.alert("Select at least one item first.");
        return;
      }
      var name = event.target.dataset.overlay;
      question = "Remove " + chosen + (chosen === 1 ? " item" : " items") + " from " + name + "?";
    }
    if (question && !window.confirm(question)) event.preventDefault();
  });

  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[form="bulk-items"][name="steam_id"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  }

  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = document.getElementById(button.dataset.copy).textContent;
      var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, function () {});
    });
  });

  function shownIds() {
    return Array.prototype.map.call(document.querySelectorAll("tr.item"), function (row) {
      return row.dataset.steamId;
    });
  }

  function showBuild(build) {
    if (!build) return;
    var state = document.getElementById("overlay-build-state");
    if (state) { state.className = "badge " + build.state; state.textContent = build.state_label; }
    var items = document.getElementById("overlay-build-items");
    if (items) items.textContent = build.items_text;
    var bar = document.getElementById("overlay-build-bar");
    if (bar) {
      bar.style.width = build.percent + "%";
      bar.parentNode.hidden = !build.active;
    }
  }

  function showItems(items) {
    Object.keys(items).forEach(function (steamId) {
      var row = document.getElementById("item-" + steamId);
      var badge = row && row.querySelector(".badge.state");
      if (!badge) return;
      badge.className = "badge state " + items[steamId].state;
      badge.textContent = items[steamId].label;
    });
  }

  function poll() {
    var url = root.dataset.statusUrl + "?ids=" + shownIds().join(",");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("status " + response.status);
        return response.json();
      })
      .then(function (data) {
        showBuild(data.build);
        showItems(data.items);
        // Once the build ends its items show their last state; no reload, so nothing typed is lost.
        if (data.build && data.build.active) setTimeout(poll, POLL_MS);
      })
      .catch(function () { setTimeout(poll, POLL_MS * 5); });
  }

  if (root.dataset.building === "1") setTimeout(poll, POLL_MS);
})();
