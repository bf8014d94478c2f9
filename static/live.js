// Encode results: click or focus a report word to list its features; "Show" shades the report by one feature.
// Study images: window/level sliders redraw the image on a canvas. Forms: "change" a kept upload.
// Steer form: look up the label of each typed feature index. Listeners are delegated, so htmx swaps need no set-up.
(function () {
  "use strict";

  function selectToken(token) {
    var result = token.closest(".encode-result");
    if (!result) { return; }
    result.querySelectorAll(".live-tok[aria-pressed='true']").forEach(function (other) {
      other.setAttribute("aria-pressed", "false");
    });
    token.setAttribute("aria-pressed", "true");
    var key = token.dataset.token;
    result.querySelectorAll("[data-token-features]").forEach(function (list) {
      list.hidden = list.dataset.tokenFeatures !== key;
    });
    var placeholder = result.querySelector("[data-token-placeholder]");
    if (placeholder) { placeholder.hidden = true; }
  }

  function featureValue(token, index) {
    var pairs = (token.dataset.f || "").split(" ");
    for (var i = 0; i < pairs.length; i++) {
      var pair = pairs[i].split(":");
      if (pair[0] === index) { return parseFloat(pair[1]); }
    }
    return 0;
  }

  function shade(button) {
    var result = button.closest(".encode-result");
    var on = button.getAttribute("aria-pressed") !== "true";
    result.querySelectorAll("[data-shade-feature]").forEach(function (other) {
      other.setAttribute("aria-pressed", "false");
      other.textContent = "Show";
    });
    result.querySelectorAll(".live-tok").forEach(function (token) {
      if (!token.dataset.baseA) { token.dataset.baseA = token.style.getPropertyValue("--a"); }
      if (on) {
        var value = featureValue(token, button.dataset.shadeFeature);
        var max = parseFloat(button.dataset.shadeMax) || 1;
        token.style.setProperty("--a", Math.min(value / max, 1).toFixed(2));
        token.classList.toggle("dim", value <= 0);
      } else {
        token.style.setProperty("--a", token.dataset.baseA);
        token.classList.remove("dim");
      }
    });
    if (on) {
      button.setAttribute("aria-pressed", "true");
      button.textContent = "Shown";
    }
  }

  document.addEventListener("click", function (event) {
    var token = event.target.closest(".live-tok");
    if (token) { selectToken(token); return; }
    var button = event.target.closest("[data-shade-feature]");
    if (button) { shade(button); }
  });
  document.addEventListener("focusin", function (event) {
    var token = event.target.closest && event.target.closest(".live-tok");
    if (token) { selectToken(token); }
  });
  document.addEventListener("keydown", function (event) {
    var token = event.target.closest && event.target.closest(".live-tok");
    if (token && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      selectToken(token);
    }
  });

  function lookUpLabel(input) {
    var row = input.closest("tr");
    var cell = row && row.querySelector(".feature-label-cell");
    var sae = document.getElementById("sae");
    if (!cell || !sae) { return; }
    var index = input.value.trim();
    if (index === "") { cell.textContent = ""; return; }
    var path = "/saes/" + encodeURIComponent(sae.value) + "/features/" + encodeURIComponent(index);
    fetch("/api/v1" + path, { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (feature) {
        cell.textContent = "";
        var link = document.createElement("a");
        link.href = path;
        link.textContent = "#" + index + " " + (feature ? (feature.label || "no label") : "(not found)");
        cell.appendChild(link);
      })
      .catch(function () { cell.textContent = ""; });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-feature-index]")) { lookUpLabel(event.target); }
    if (event.target.id === "sae") {
      document.querySelectorAll("[data-feature-index]").forEach(lookUpLabel);
    }
  });

  var sources = new WeakMap();
  var MAX_SIDE = 1024;

  function canvasFor(figure) {
    var canvas = figure.querySelector("canvas[data-wl-canvas]");
    if (canvas) { return canvas; }
    var img = figure.querySelector("[data-wl-image]");
    if (!img || !img.complete || !img.naturalWidth) { return null; }
    var scale = Math.min(1, MAX_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
    canvas = document.createElement("canvas");
    canvas.dataset.wlCanvas = "";
    canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
    canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", img.alt);
    var context = canvas.getContext("2d");
    context.drawImage(img, 0, 0, canvas.width, canvas.height);
    sources.set(canvas, context.getImageData(0, 0, canvas.width, canvas.height));
    img.after(canvas);
    img.hidden = true;
    return canvas;
  }

  function applyWindowLevel(figure) {
    var canvas = canvasFor(figure);
    if (!canvas) { return; }
    var width = parseFloat(figure.querySelector("[data-wl='window']").value);
    var level = parseFloat(figure.querySelector("[data-wl='level']").value);
    figure.querySelector("[data-wl-value='window']").textContent = width;
    figure.querySelector("[data-wl-value='level']").textContent = level;
    var source = sources.get(canvas).data;
    var context = canvas.getContext("2d");
    var out = context.createImageData(canvas.width, canvas.height);
    var low = level - width / 2;
    for (var i = 0; i < source.length; i += 4) {
      var value = Math.min(255, Math.max(0, ((source[i] - low) / width) * 255));
      out.data[i] = out.data[i + 1] = out.data[i + 2] = value;
      out.data[i + 3] = 255;
    }
    context.putImageData(out, 0, 0);
  }

  document.addEventListener("input", function (event) {
    var figure = event.target.matches && event.target.matches("[data-wl]") && event.target.closest("[data-window-level]");
    if (figure) { applyWindowLevel(figure); }
  });
  document.addEventListener("click", function (event) {
    var reset = event.target.closest("[data-wl-reset]");
    if (reset) {
      var figure = reset.closest("[data-window-level]");
      figure.querySelector("[data-wl='window']").value = 256;
      figure.querySelector("[data-wl='level']").value = 128;
      applyWindowLevel(figure);
      return;
    }
    var change = event.target.closest("[data-change-upload]");
    if (change) {
      var field = change.closest(".field");
      var kept = field.querySelector("[data-kept-upload]");
      var input = field.querySelector("input[type='file']");
      kept.hidden = true;
      kept.querySelector("input[type='hidden']").disabled = true;
      input.hidden = false;
      input.focus();
    }
  });
})();
