"""Child-process workers for the reliability tests (run as ``python -m tests.reliability.…``)."""
