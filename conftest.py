"""Pack vignettes are ordinary pytest items (the plugin a pack repository outside rxguard uses too)."""

pytest_plugins = ["rxguard.testing"]
