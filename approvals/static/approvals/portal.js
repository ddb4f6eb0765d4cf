/* sgportal's own script (served from our origin; the CSP refuses inline script without the
   request's nonce). Progressive: every page works without it. */
(function () {
  "use strict";

  function selected() {
    return document.querySelectorAll("input[name=change]:checked");
  }

  function updateBulk() {
    var count = selected().length;
    document.querySelectorAll("[data-bulk-count]").forEach(function (el) {
      el.textContent = count ? count + " selected" : "none selected";
    });
    document.querySelectorAll("[data-bulk-submit]").forEach(function (el) {
      el.disabled = count === 0;
    });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-autosubmit], form.filters select")) {
      target.form.requestSubmit();
    }
    if (target.matches("[data-select-all]")) {
      document.querySelectorAll("input[name=change]").forEach(function (box) {
        box.checked = target.checked;
      });
    }
    if (target.matches("input[name=change], [data-select-all]")) {
      updateBulk();
    }
  });

  // Filter forms send only the fields that say something (short, shareable URLs).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form.filters")) { return; }
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && !el.value && el.type !== "checkbox") { el.disabled = true; }
    });
  });
  window.addEventListener("pageshow", function () {  // back button: fields usable again
    document.querySelectorAll("form.filters [disabled]").forEach(function (el) { el.disabled = false; });
  });

  // Confirmation naming what will happen; a deny (or bulk approve) also needs a reason.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-confirm], button[data-require-reason]");
    if (!button) {
      return;
    }
    var form = button.form;
    if (button.hasAttribute("data-require-reason") && form) {
      var reason = form.querySelector("[name=reason]");
      if (reason && !reason.value.trim()) {
        event.preventDefault();
        reason.setCustomValidity("A reason is required.");
        reason.reportValidity();
        reason.addEventListener("input", function () { reason.setCustomValidity(""); }, { once: true });
        return;
      }
    }
    if (button.hasAttribute("data-confirm") && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  // Live queue: htmx polls the results; skip a poll while rows are selected (a swap would
  // clear the selection) or while the tab is hidden.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.hasAttribute("data-poll") && (selected().length || document.hidden)) {
      event.preventDefault();
    }
  });
  document.addEventListener("htmx:afterSwap", updateBulk);

  // Times: shown in the reader's zone, UTC kept on hover.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      if (el.dataset.local) { return; }
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) { return; }
      el.textContent = when.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit"
      });
      el.dataset.local = "1";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); updateBulk(); });
  document.addEventListener("htmx:afterSwap", function (event) { localTimes(event.detail.target.parentNode || document); });
})();
