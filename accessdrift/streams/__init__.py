"""The Faust app, its agents and the settings: the thin shell around the core."""
