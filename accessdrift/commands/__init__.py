"""What the commands of the command line do (``accessdrift/cli.py`` parses, these act): read-only
queries, directly or through the running worker (``worker_client``), replays of files onto
Kafka (``sources`` reads them), and the evaluation of a run against a simulation's truth."""
