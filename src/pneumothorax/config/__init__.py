"""Parameters: typed models, the config loader and its errors."""
