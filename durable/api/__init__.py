"""The HTTP API (DRF): CloudEvents receiver, instances, start, cancel, pause, resume, get_event."""
