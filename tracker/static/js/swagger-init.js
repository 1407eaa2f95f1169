// Starts Swagger UI on the API documentation page. A file rather than an inline <script>, so the
// Content-Security-Policy (script-src 'self') holds on that page too.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  if (!root || typeof SwaggerUIBundle === "undefined") {
    return;
  }
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    persistAuthorization: false,
    validatorUrl: null // no badge fetched from validator.swagger.io: everything stays on this host
  });
});
