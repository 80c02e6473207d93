"""Vendored reference data (ESCO, Danish postal codes and municipalities) and lookups."""
