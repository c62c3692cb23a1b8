"""The ``.avsc`` files are the contract of every record; models and codec follow them."""
