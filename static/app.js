// Keyboard shortcuts (j/k or arrows: next/previous, "/": search, "?": help) and token tooltips.
(function () {
  "use strict";

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable='true']") !== null;
  }

  function follow(rel) {
    var link = document.querySelector('.feature-nav a[rel="' + rel + '"]');
    if (link) { window.location.href = link.href; }
  }

  function toggleHelp(show) {
    var help = document.getElementById("shortcut-help");
    if (!help) { return; }
    help.hidden = show === undefined ? !help.hidden : !show;
    if (!help.hidden) { help.querySelector("button").focus(); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { toggleHelp(false); hideTip(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    if (event.key === "j" || event.key === "ArrowRight") { follow("next"); }
    else if (event.key === "k" || event.key === "ArrowLeft") { follow("prev"); }
    else if (event.key === "/") {
      var search = document.getElementById("filter-q") || document.getElementById("site-search");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    }
    else if (event.key === "?") { toggleHelp(); }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-shortcut-help]")) { toggleHelp(); }
  });

  var tip = null;
  function showTip(token) {
    tip = tip || document.getElementById("token-tip");
    if (!tip) { return; }
    tip.textContent = JSON.stringify(token.textContent) + "  activation " + token.dataset.v;
    tip.hidden = false;
    var box = token.getBoundingClientRect();
    tip.style.left = (window.scrollX + box.left) + "px";
    tip.style.top = (window.scrollY + box.bottom + 6) + "px";
  }
  function hideTip() { if (tip) { tip.hidden = true; } }

  function onEnter(event) {
    var token = event.target.closest && event.target.closest(".tok[data-v]");
    if (token) { showTip(token); }
  }
  function onLeave(event) {
    if (event.target.closest && event.target.closest(".tok[data-v]")) { hideTip(); }
  }
  document.addEventListener("mouseover", onEnter);
  document.addEventListener("focusin", onEnter);
  document.addEventListener("mouseout", onLeave);
  document.addEventListener("focusout", onLeave);

  // Let htmx swap 422 answers too: they carry the explained form errors.
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      window.htmx.config.responseHandling = [
        { code: "204", swap: false },
        { code: "[23]..", swap: true },
        { code: "422", swap: true },
        { code: "[45]..", swap: false, error: true },
      ];
    }
  });
})();
