"""File writing every layer shares (standard library only, nothing of ours imported)."""
