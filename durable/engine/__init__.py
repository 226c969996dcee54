"""The pure-Python engine: decorators, registry, context, replay and codec; never imports Django."""
