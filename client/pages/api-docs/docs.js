// Renders /openapi.json with Swagger UI and /asyncapi.json with AsyncAPI's React component, both
// served from the project's own npm packages (no CDN). The buttons (or the hash, #socket) pick the document.
(function () {
  var rendered = {};
  function render(which) {
    if (rendered[which]) return;
    rendered[which] = true;
    if (which === "http") {
      window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#openapi", deepLinking: false, tryItOutEnabled: false });
    } else {
      window.AsyncApiStandalone.render(
        { schema: { url: "/asyncapi.json" }, config: { show: { sidebar: false, servers: true, operations: true, messages: true, schemas: true, errors: true } } },
        document.getElementById("asyncapi"),
      );
    }
  }
  function show(which) {
    document.getElementById("http").hidden = which !== "http";
    document.getElementById("socket").hidden = which !== "socket";
    document.getElementById("tab-http").setAttribute("aria-pressed", String(which === "http"));
    document.getElementById("tab-socket").setAttribute("aria-pressed", String(which === "socket"));
    render(which);
  }
  document.querySelectorAll("[data-doc]").forEach(function (button) {
    button.addEventListener("click", function () {
      var which = button.getAttribute("data-doc");
      history.replaceState(null, "", which === "socket" ? "#socket" : "#http");
      show(which);
    });
  });
  show(location.hash === "#socket" ? "socket" : "http");
})();
