"""A stage that runs on a thread of its own beside Faust's event loop (the batch ingest,
the notifier): started and stopped with the worker, its failure kept for ``/ready/``
and for the worker's watchdog, never silent."""

import logging
import threading


class StageThread:
    """Subclasses implement ``_consume``: their loop, until ``stopping`` is set."""

    def __init__(self, name: str, log: logging.Logger) -> None:
        self.stopping = threading.Event()
        self.failure: BaseException | None = None
        self._log = log
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.stopping.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._consume()
        except BaseException as error:  # /ready/ and the watchdog report it
            self.failure = error
            self._log.exception("%s stopped: %s", self._thread.name, error)

    def _consume(self) -> None:
        raise NotImplementedError
