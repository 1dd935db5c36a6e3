"""Domain knowledge shared by the hub and the simulated departments.

Nothing here knows HTTP, GraphQL or a database: identifier rules, the Chinese
working-day calendar and the approval rules DESIGN.md describes.
"""
