"""Migration revisions, oldest first: ``v0001_initial``, ``v0002_license_alias``."""
