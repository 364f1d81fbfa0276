"""Task descriptions and the public task functions (array in, result dataclass out)."""
