// Keyboard shortcuts (j/k or arrows: next/previous, "/": search, "?": help), word tooltips, and
// arrow keys between the highlighted words of a snippet (one Tab stop per snippet).
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

  var WORD_KEYS = { ArrowRight: 1, ArrowLeft: -1, Home: 0, End: 0, ArrowDown: 1, ArrowUp: -1 };

  function wordsOf(snippet) {
    return Array.prototype.slice.call(snippet.querySelectorAll(".tok[data-v]"));
  }

  // Roving tabindex: a group of snippets ([data-roving]) is one Tab stop, the word last focused.
  function moveTo(from, to) {
    if (!to || to === from) { return; }
    from.tabIndex = -1;
    to.tabIndex = 0;
    to.focus();
  }

  function moveWithin(word, key) {
    var snippet = word.closest(".tokens");
    if (key === "ArrowUp" || key === "ArrowDown") {
      var group = word.closest("[data-roving]");
      var snippets = Array.prototype.slice.call(group.querySelectorAll(".tokens"))
        .filter(function (s) { return wordsOf(s).length > 0; });
      var target = snippets[snippets.indexOf(snippet) + WORD_KEYS[key]];
      if (target) { moveTo(word, target.querySelector(".tok.sampled[data-v]") || wordsOf(target)[0]); }
      return;
    }
    var words = wordsOf(snippet);
    var at = words.indexOf(word);
    var next = key === "Home" ? 0 : key === "End" ? words.length - 1 : at + WORD_KEYS[key];
    moveTo(word, words[next]);
  }

  function openReport(word) {
    var example = word.closest(".example");
    var link = example && example.querySelector("a.example-doc");
    if (link) { window.location.href = link.href; }
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { toggleHelp(false); hideTip(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var word = event.target.closest && event.target.closest(".tok[data-v]");
    if (word && WORD_KEYS.hasOwnProperty(event.key)) {
      event.preventDefault();
      moveWithin(word, event.key);
      return;
    }
    if (word && event.key === "Enter") { openReport(word); return; }
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
    tip.textContent = token.dataset.tip;
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

  // A link to a word of a report (#t123) focuses that word, which shows its values.
  function focusLinkedWord() {
    var word = location.hash && document.getElementById(location.hash.slice(1));
    if (!word || !word.matches(".tok[data-v]")) { return; }
    var current = word.closest("[data-roving]").querySelector('.tok[tabindex="0"]');
    if (current) { current.tabIndex = -1; }
    word.tabIndex = 0;
    word.focus();
  }

  // Let htmx swap 422 answers too: they carry the explained form errors.
  document.addEventListener("DOMContentLoaded", function () {
    focusLinkedWord();
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
