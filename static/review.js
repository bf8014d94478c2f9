// Keyboard-first rating on /review: 1-5 pick the rating, y/n/u the meaningful answer, Enter
// saves and loads the next item, s skips. Keys typed into text fields stay there. The form gets
// data-keys="on" once the keys work.
//
// Saving posts the form to its data-fragment URL, which stores the answer and answers with the
// next item's part of the page in the same round trip; it replaces #review-view in place (no
// redirect, no page load). Any other answer than the next item or the form with its errors
// (422) sends the form the plain way, so the server's page explains what happened.
(function () {
  "use strict";

  function armKeys() {
    var form = document.getElementById("review-form");
    if (form) form.dataset.keys = "on";
  }

  function plainSubmit(form, submitter) {
    form.dataset.plain = "on";
    form.requestSubmit(submitter);
  }

  // The new item's markup in place of the old; `url` (the queue's, after a save) goes into the
  // address bar, so a reload shows the item now on screen.
  function show(view, html, url) {
    view.innerHTML = html;
    armKeys();
    if (url && location.pathname + location.search !== url) history.replaceState(null, "", url);
    window.scrollTo(0, 0);
    view.focus({ preventScroll: true });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var view = document.getElementById("review-view");
    if (form.id !== "review-form" || !view || form.dataset.plain === "on" || !window.fetch) return;
    event.preventDefault();
    if (form.dataset.busy === "on") return;
    form.dataset.busy = "on";
    var submitter = event.submitter;
    var data = new FormData(form);
    if (submitter && submitter.name) data.set(submitter.name, submitter.value);
    fetch(form.dataset.fragment, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      redirect: "manual",
    }).then(function (response) {
      if (response.status !== 200 && response.status !== 422) throw new Error(response.status);
      return response.text().then(function (html) {
        show(view, html, response.status === 200 ? form.dataset.queue : null);
      });
    }).catch(function () {
      plainSubmit(form, submitter);
    });
  });

  armKeys();
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
