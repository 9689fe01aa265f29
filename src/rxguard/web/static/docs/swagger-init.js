// Starts Swagger UI on /docs from the vendored bundle (no inline script: the page's
// Content-Security-Policy forbids it). The document's URL is the element's data-openapi-url.
(function () {
  var element = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: element.getAttribute("data-openapi-url"),
    domNode: element,
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
  });
})();
