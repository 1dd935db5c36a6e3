"""Gateway commands of the ``onematter`` CLI: ``token mint`` and ``audit verify``."""
