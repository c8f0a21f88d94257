"""A plugin module that ends the process as it is imported (SystemExit from module code)."""

raise SystemExit("goodbye from a plugin's import")
