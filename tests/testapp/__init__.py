"""A tiny app whose table records side effects, so tests can count them."""
