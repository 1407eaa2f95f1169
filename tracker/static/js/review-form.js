// Return-reason templates in the review form. The form works without this script: the server
// uses the chosen template when the reason is left empty. With it, choosing a template copies
// its text into the reason so the inspector can complete it before recording the decision.
(function () {
  "use strict";

  function enhance(select) {
    var target = document.getElementById(select.getAttribute("data-fills"));
    if (!target) {
      return;
    }
    var inserted = ""; // the text this script put in, so that a new choice replaces it
    select.addEventListener("change", function () {
      var option = select.options[select.selectedIndex];
      var text = option ? option.getAttribute("data-text") || "" : "";
      var current = target.value.trim();
      if (!text) {
        if (current === inserted) {
          target.value = "";
        }
        inserted = "";
        return;
      }
      if (current === "" || current === inserted) {
        target.value = text;
      } else {
        // Something typed by hand is kept: the template goes after it.
        target.value = target.value.replace(/\s+$/, "") + "\n" + text;
      }
      inserted = target.value.trim();
      target.focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("select[data-fills]"), enhance);
  });
})();
