"""Kafka plumbing: topics created, a local broker or cluster started, records produced."""
