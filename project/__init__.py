"""The demo project: settings, urls, example workflows, and the demo and the bench with their commands."""
