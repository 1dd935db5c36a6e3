"""``onematter registry ...`` commands: migrate, seed, import, export."""
