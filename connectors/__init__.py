"""Department connectors and the framework they share.

- ``base``: the ``Connector`` protocol; ``settings``: one ``[connectors.NAME]``
  table (records and the error tree are ``domain.records`` / ``domain.errors``).
- ``pipeline``: the one call pipeline (deadline, breaker, retry, cache, metrics).
- ``failures``: the one place statuses, httpx exceptions and parse failures
  become the hub's errors.
- ``jsonfields`` / ``xmlfields``: typed getters (and safe XML parsing) for parsers;
  ``oauth``: OAuth2 client-credentials tokens.
- ``http`` / ``cache``: building clients and the shared cache.
- ``registry``: discovery through the ``onematter.connectors`` entry points.
- ``testing``: the contract suite external connector packages run.
- one module per department: ``planning``, ``civil_air_defence``, ``fire``,
  ``utilities``, ``real_estate``.

Nothing here imports GraphQL; importing this package imports nothing else.
"""

# The plug-in API: the modules a connector package may import. Everything else is private.
__all__ = [
    "base",
    "cache",
    "failures",
    "http",
    "jsonfields",
    "oauth",
    "pipeline",
    "settings",
    "testing",
    "xmlfields",
]
