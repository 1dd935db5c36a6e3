"""HTTP and process concerns: the Starlette app, configuration, auth, limits, CLI."""
