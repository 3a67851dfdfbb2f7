"""Support for the ORB command-line round trips (tests/test_orb_cli*.py): a moto EC2 server in
a child process, an isolated ORB installation per run, and the normalisation that makes two
runs comparable."""
