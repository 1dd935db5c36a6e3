// Starts GraphiQL against this page's own endpoint (same origin, same path).
(function () {
  "use strict";
  var endpoint = window.location.pathname;
  var defaultQuery = [
    "# OneMatter Hub: one query for a project across every department.",
    "# Try the query below, or open the docs (top left) to browse the schema.",
    "",
    "query Matter {",
    "  matter(projectCode: \"2023-430472-47-03-000001\") {",
    "    projectCode",
    "    name",
    "    stage",
    "    sources { department status latencyMs }",
    "  }",
    "}",
    ""
  ].join("\n");
  var fetcher = GraphiQL.createFetcher({ url: endpoint });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false
    })
  );
})();
