"""Alerts to people: the routing file, rendering per service, signing, delivery."""
