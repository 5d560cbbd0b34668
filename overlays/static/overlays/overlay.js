// The overlay page: confirm before removing, selection (this page or every matching item) and
// its count, copy buttons, and while a build is
// queued or running, its progress and the shown items' states without reloading.
(function () {
  "use strict";
  var root = document.getElementById("overlay");
  if (!root) return;
  var POLL_MS = Number(document.body.dataset.pollMs) || 2000;

  var BOXES = 'input[form="bulk-items"][name="steam_id"]';
  var bulk = document.getElementById("bulk-items");
  var all = document.getElementById("select-all");
  var allMatching = document.getElementById("all-matching");

  // How many items the bulk buttons act on: every matching one, or the ticked rows.
  function chosenCount() {
    if (allMatching && allMatching.checked) return Number(bulk.dataset.matching);
    return document.querySelectorAll(BOXES + ":checked").length;
  }

  function removeQuestion(chosen) {
    var name = bulk.dataset.overlay;
    if (chosen === 1 && !(allMatching && allMatching.checked)) {
      var title = document.querySelector(BOXES + ":checked").closest("tr").querySelector(".title");
      return "Remove " + title.textContent + " from " + name + "?";
    }
    return "Remove the " + chosen + (chosen === 1 ? " item" : " items") + " from " + name + "?";
  }

  // Remove (one item or the selected ones) asks first; Cancel changes nothing.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (!button) return;
    var question = button.dataset.confirm;
    var needs = button.dataset.needsChoice;
    if (needs && !document.querySelectorAll('input[form="' + needs + '"]:checked').length) {
      event.preventDefault();
      window.alert("Select at least one item first.");
      return;
    }
    if (button.dataset.bulkConfirm) {
      var chosen = chosenCount();
      if (!chosen) {
        event.preventDefault();
        window.alert("Select at least one item first.");
        return;
      }
      question = removeQuestion(chosen);
    }
    var form = event.target;
    if (form.dataset.confirmRemove && form.querySelector('input[name="items"][value="remove"]:checked')) {
      question = form.dataset.confirmRemove;
    }
    if (question && !window.confirm(question)) event.preventDefault();
  });

  function showChosen() {
    var counter = document.getElementById("selected-count");
    if (!counter) return;
    var chosen = chosenCount();
    counter.textContent = " · " + chosen + " selected";
    counter.hidden = !chosen;
  }

  function tickPage(checked) {
    document.querySelectorAll(BOXES).forEach(function (box) { box.checked = checked; });
  }

  if (all) {
    all.addEventListener("change", function () {
      tickPage(all.checked);
      if (!all.checked && allMatching) allMatching.checked = false;
      showChosen();
    });
  }
  if (allMatching) {
    allMatching.addEventListener("change", function () {
      tickPage(allMatching.checked);
      if (all) all.checked = allMatching.checked;
      showChosen();
    });
  }
  document.addEventListener("change", function (event) {
    if (!event.target.matches(BOXES)) return;
    if (!event.target.checked && allMatching) allMatching.checked = false;
    showChosen();
  });
  showChosen();  // a box the browser kept ticked on reload

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
    var link = document.getElementById("overlay-build-link");
    if (link) { link.href = build.url; link.textContent = build.title; }
    var items = document.getElementById("overlay-build-items");
    if (items) items.textContent = build.items_text;
    var bar = document.getElementById("overlay-build-bar");
    if (bar) {
      bar.style.width = build.percent + "%";
      bar.parentNode.hidden = !build.active;
    }
  }

  // Each shown row is redrawn as the server draws it (state, buttons, size), keeping its checkbox.
  function showRows(rows) {
    Object.keys(rows).forEach(function (steamId) {
      var row = document.getElementById("item-" + steamId);
      if (!row) return;
      var box = row.querySelector('input[name="steam_id"]');
      var checked = box && box.checked;
      var holder = document.createElement("tbody");
      holder.innerHTML = rows[steamId];
      var fresh = holder.querySelector("tr");
      if (!fresh) return;
      var freshBox = fresh.querySelector('input[name="steam_id"]');
      if (freshBox) freshBox.checked = checked;
      row.replaceWith(fresh);
    });
  }

  function showHealth(html) {
    var health = document.getElementById("overlay-health");
    if (health && html) health.innerHTML = html;
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
        showHealth(data.health);
        showRows(data.rows);
        // Once the build ends its items show their last state; no reload, so nothing typed is lost.
        if (data.build && data.build.active) setTimeout(poll, POLL_MS);
      })
      .catch(function () { setTimeout(poll, POLL_MS * 5); });
  }

  if (root.dataset.building === "1") setTimeout(poll, POLL_MS);
})();
