// Behaviour shared by every page. Everything here is an enhancement: without it the forms and
// links still work, only without the confirmation and the progress notice.
(function () {
  "use strict";

  // Irreversible actions ask first: a form with data-confirm="question", or a form whose checked
  // radio button carries its own data-confirm (approve and return differ).
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      var checked = form.querySelector("input[type=radio][data-confirm]:checked");
      var question = (checked && checked.dataset.confirm) || form.dataset.confirm;
      if (question && !window.confirm(question)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true
  );

  // Long exports: the link shows that the file is being prepared until the download starts.
  // The server echoes the link's download_token in a short-lived cookie with the file's first
  // bytes (tracker/downloads.py), which is how the page knows.
  function readCookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : null;
  }

  function newToken() {
    return String(Date.now()) + String(Math.floor(Math.random() * 1e6));
  }

  // Shows the control as busy until the response carrying `token` starts to download.
  function watch(control, token) {
    var label = control.innerHTML;
    var status = document.getElementById("export-status");
    control.setAttribute("aria-busy", "true");
    control.classList.add("disabled");
    control.insertAdjacentHTML(
      "afterbegin",
      '<span class="spinner-border spinner-border-sm me-1" aria-hidden="true"></span>'
    );
    if (status) {
      status.textContent = status.dataset.preparing || "";
    }
    var started = Date.now();
    var timer = window.setInterval(function () {
      var done = readCookie("tracker_download") === token;
      if (done || Date.now() - started > 10 * 60 * 1000) {
        window.clearInterval(timer);
        control.innerHTML = label;
        control.removeAttribute("aria-busy");
        control.classList.remove("disabled");
        if (status) {
          status.textContent = done ? status.dataset.started || "" : "";
        }
      }
    }, 400);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-export]");
    if (!link) {
      return;
    }
    if (link.getAttribute("aria-busy") === "true") {
      event.preventDefault();
      return;
    }
    var token = newToken();
    var url = new URL(link.href, window.location.href);
    url.searchParams.set("download_token", token);
    link.href = url.toString();
    watch(link, token);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-export") || event.defaultPrevented) {
      return;
    }
    var token = newToken();
    var field = form.querySelector("input[name=download_token]");
    if (!field) {
      field = document.createElement("input");
      field.type = "hidden";
      field.name = "download_token";
      form.appendChild(field);
    }
    field.value = token;
    var button = event.submitter || form.querySelector("[type=submit]");
    if (button) {
      watch(button, token);
    }
  });
})();
