"""A synthetic organisation's event stream with its ground truth (``accessdrift simulate``)."""
