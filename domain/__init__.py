"""Domain knowledge shared by the hub and the simulated departments.

Nothing here knows HTTP, GraphQL or a database: identifier rules, the Chinese
working-day calendar, the approval rules of the zone's reform, the records every
connector returns, the principal and roles, and the one error tree.
"""

# What connectors, plug-ins and the hub import from here.
__all__ = ["errors", "handbook", "identifiers", "principal", "records", "rules", "workdays"]
