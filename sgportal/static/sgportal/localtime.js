// Times in the reader's time zone, with UTC on hover.
// Every <time class="sg-time" datetime="ISO-8601 UTC"> rendered by the server (template tag
// sgportal_time.when) shows UTC until this runs; it then shows the reader's local time and
// keeps the UTC time in the title. No inline script: loaded from static files (CSP 'self').
(function () {
  "use strict";
  var local = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });
  function pad(n) { return String(n).padStart(2, "0"); }
  function utc(d) {
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) +
      " UTC";
  }
  function localize(root) {
    var nodes = (root || document).querySelectorAll("time.sg-time[datetime]:not([data-local])");
    nodes.forEach(function (node) {
      var d = new Date(node.getAttribute("datetime"));
      if (isNaN(d.getTime())) { return; }
      node.textContent = local.format(d);
      node.title = utc(d);
      node.setAttribute("data-local", "1");
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localize(document); });
  // Content swapped in later (htmx polling) is localized too.
  document.addEventListener("htmx:afterSwap", function (e) { localize(e.target); });
  window.sgLocalizeTimes = localize;
})();
