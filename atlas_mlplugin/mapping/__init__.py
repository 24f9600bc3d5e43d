"""Pure mapping from our domain models to Atlas entity and classification payloads (no I/O)."""
