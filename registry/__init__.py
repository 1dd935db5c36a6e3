"""The hub's own store: the delegation ledger, business-system accounts, history.

``store.Registry`` opens the database (SQLite file or PostgreSQL) and migrates it;
``service.Ledger`` changes the ledger; ``coverage.delegation_coverage`` answers the
auditors' figures; ``seed`` loads the report's story; ``spreadsheet`` reads and
writes delegation lists with Chinese headers.
"""
