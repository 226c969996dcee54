"""The demo project: settings, urls and example workflows for durable."""
