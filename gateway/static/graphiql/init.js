// Starts GraphiQL against this page's own endpoint (same origin, same path).
(function () {
  "use strict";
  var endpoint = window.location.pathname;
  var defaultQuery = [
    "# OneMatter Hub: one query for a project across every department.",
    "# Run it with the play button; open the docs (top left) to browse the schema.",
    "",
    "query Matter($projectCode: String! = \"2023-430472-70-03-000928\") {",
    "  matter(projectCode: $projectCode) {",
    "    name",
    "    stage",
    "    phasedPermit { mode phases { phase eligible missing } }",
    "    blockers { department message }",
    "    nextSteps { title materials }",
    "    sources { department status latencyMs }",
    "  }",
    "}",
    ""
  ].join("\n");
  var config = {};
  try {
    config = JSON.parse(document.getElementById("graphiql-config").textContent) || {};
  } catch (e) {
    config = {};
  }
  var headers = config.headers || {};
  var fetcher = GraphiQL.createFetcher({ url: endpoint });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultEditorToolsVisibility: true,
      // The demo hub pre-fills a short-lived demo token here; a real hub leaves it empty.
      defaultHeaders: Object.keys(headers).length ? JSON.stringify(headers, null, 2) : undefined,
      shouldPersistHeaders: false
    })
  );
})();
