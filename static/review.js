// Keyboard-first rating on /review: 1-5 pick the rating, y/n/u the meaningful answer, Enter
// saves and loads the next item, s skips. Keys typed into text fields stay there. The form gets
// data-keys="on" once the keys work.
(function () {
  "use strict";
  var ready = document.getElementById("review-form");
  if (ready) ready.dataset.keys = "on";
  document.addEventListener("keydown", function (event) {
    var form = document.getElementById("review-form");
    if (!form || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var typing = target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement ||
      (target instanceof HTMLInputElement && target.type !== "radio" && target.type !== "checkbox");
    if (typing) return;
    var key = event.key.toLowerCase();
    if (key === "enter") {
      if (target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement) return;
      event.preventDefault();
      form.requestSubmit(document.getElementById("review-submit"));
      return;
    }
    if (key === "s") {
      event.preventDefault();
      form.requestSubmit(document.getElementById("review-skip"));
      return;
    }
    var choice = form.querySelector('input[data-key="' + key + '"]');
    if (choice) {
      event.preventDefault();
      choice.checked = true;
      choice.focus();
    }
  });
})();
