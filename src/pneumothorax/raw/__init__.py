"""The raw layer: the raw folder, its manifest and the bundled sample."""
