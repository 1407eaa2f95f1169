// Uploads with a progress bar. The form posts as usual without this script; with it the same
// request goes through XMLHttpRequest so its progress can be shown, and the server's answer (the
// item page after the redirect, or the page with the error) replaces this page as a normal
// submission would.
(function () {
  "use strict";

  function enhance(form) {
    var box = form.querySelector("[data-upload-progress]");
    if (!box || typeof FormData === "undefined") {
      return;
    }
    var bar = box.querySelector("progress");
    var text = box.querySelector("[data-upload-progress-text]");

    function show(percent) {
      box.classList.remove("d-none");
      bar.value = percent;
      text.textContent =
        percent >= 100
          ? text.dataset.processing
          : text.dataset.uploading.replace("{percent}", String(percent));
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = event.submitter || form.querySelector("[type=submit]");
      var data = new FormData(form);
      if (button && button.name) {
        data.append(button.name, button.value);
      }
      if (button) {
        button.disabled = true;
      }
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.upload.addEventListener("progress", function (progress) {
        if (progress.lengthComputable) {
          show(Math.floor((progress.loaded / progress.total) * 100));
        }
      });
      request.addEventListener("load", function () {
        if (request.responseURL && request.responseURL !== window.location.href) {
          window.history.replaceState(null, "", request.responseURL);
        }
        document.open();
        document.write(request.responseText);
        document.close();
      });
      request.addEventListener("error", function () {
        box.classList.remove("d-none");
        text.textContent = text.dataset.failed;
        if (button) {
          button.disabled = false;
        }
      });
      show(0);
      request.send(data);
    });
  }

  document.querySelectorAll("form[data-upload-form]").forEach(enhance);
})();
