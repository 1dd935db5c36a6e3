"""Department connectors and the framework they share.

- ``base``: the ``Connector`` protocol; ``records``: the typed domain records;
  ``errors``: the error tree; ``settings``: one ``[connectors.NAME]`` table.
- ``pipeline``: the one call pipeline (deadline, breaker, retry, cache, metrics).
- ``http`` / ``cache``: building clients and the shared cache.
- ``registry``: discovery through the ``onematter.connectors`` entry points.
- ``testing``: the contract suite external connector packages run.
- one module per department: ``planning``, ``civil_air_defence``, ``fire``,
  ``utilities``, ``real_estate``.

Nothing here imports GraphQL; importing this package imports nothing else.
"""

# The plug-in API: the modules a connector package may import. Everything else is private.
__all__ = ["base", "cache", "http", "pipeline", "settings", "testing"]
