// Sends the page's CSRF token (from <meta name="csrf-token">) with every htmx request, as the
// X-CSRF-Token header the server checks on POST, PUT, PATCH and DELETE (see app/auth.py).
(function () {
  "use strict";
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) { event.detail.headers["X-CSRF-Token"] = meta.content; }
  });
})();
