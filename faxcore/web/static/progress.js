// Live outbox progress: polls the panel's JSON routes every 2 s while a fax is on its
// way and updates the state, page n/m and attempts in place. Without JavaScript the
// pages still show the state at load time (and the Refresh link).
(function () {
  "use strict";
  function text(el, value) { if (el && el.textContent !== String(value)) { el.textContent = value; } }
  function stateCell(el, state) {
    if (!el) { return; }
    el.textContent = state; el.className = "state-" + state;
  }
  var one = document.getElementById("progress");
  var table = document.getElementById("outbox");
  if (!one && !table) { return; }
  var url = one ? "/panel/outbox/" + one.dataset.id + "/progress.json" : "/panel/outbox.json";
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        var busy = false;
        var list = one ? [data] : data.faxes;
        list.forEach(function (j) {
          if (!j.final) { busy = true; }
          if (one) {
            stateCell(document.getElementById("state"), j.state);
            text(document.getElementById("pages"), j.pages_done + "/" + j.pages);
            var bar = document.getElementById("bar"); if (bar) { bar.value = j.pages_done; }
            text(document.getElementById("attempts"), j.attempts);
            text(document.getElementById("why"), j.reason);
          } else {
            var row = table.querySelector('tr[data-id="' + j.id + '"]');
            if (!row) { return; }
            var span = row.querySelector(".state span"); stateCell(span, j.state);
            text(row.querySelector(".pages"), j.pages_done + "/" + j.pages);
            text(row.querySelector(".attempts"), j.attempts);
          }
        });
        if (busy) { setTimeout(tick, 2000); }
      })
      .catch(function () { setTimeout(tick, 10000); });
  }
  setTimeout(tick, 1000);
}());
