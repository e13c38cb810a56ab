// Starts Swagger UI on this service's own document. A separate file, not an inline
// script: the page's Content-Security-Policy allows scripts from this origin only.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    validatorUrl: null,          // never ask a remote validator
    tryItOutEnabled: false,
  });
});
