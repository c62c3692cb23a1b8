"""The fault tests (`make test-faults`) use the integration tests' broker and fixtures."""

from tests.integration.conftest import isolated, kafka, worker

__all__ = ["isolated", "kafka", "worker"]
