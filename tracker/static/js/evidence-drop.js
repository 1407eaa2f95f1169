// Drag and drop for the evidence upload form. The form works without this script: it only lets
// files dropped on the zone land in the ordinary <input type="file" multiple> and lists them.
(function () {
  "use strict";

  function listFiles(input, list) {
    list.textContent = "";
    Array.prototype.forEach.call(input.files || [], function (file) {
      var entry = document.createElement("li");
      entry.textContent = file.name;
      list.appendChild(entry);
    });
  }

  function enhance(zone) {
    var input = zone.querySelector('input[type="file"]');
    var list = zone.querySelector("[data-drop-list]");
    var hint = zone.querySelector("[data-drop-hint]");
    if (!input || typeof DataTransfer === "undefined") {
      return;
    }
    if (hint) {
      hint.classList.remove("d-none");
    }
    var depth = 0;
    function highlight(on) {
      zone.classList.toggle("border-primary", on);
      zone.classList.toggle("bg-light", !on);
    }
    zone.addEventListener("dragenter", function (event) {
      event.preventDefault();
      depth += 1;
      highlight(true);
    });
    zone.addEventListener("dragover", function (event) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("dragleave", function () {
      depth = Math.max(depth - 1, 0);
      if (depth === 0) {
        highlight(false);
      }
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      depth = 0;
      highlight(false);
      var dropped = event.dataTransfer && event.dataTransfer.files;
      if (!dropped || dropped.length === 0) {
        return;
      }
      // Dropped files are added to those already chosen, as a second pick would be.
      var merged = new DataTransfer();
      Array.prototype.forEach.call(input.files || [], function (file) {
        merged.items.add(file);
      });
      Array.prototype.forEach.call(dropped, function (file) {
        merged.items.add(file);
      });
      input.files = merged.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
    if (list) {
      input.addEventListener("change", function () {
        listFiles(input, list);
      });
    }
  }

  document.querySelectorAll("[data-drop-zone]").forEach(enhance);
})();
