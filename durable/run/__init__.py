"""Running instances: the executor (claim -> load -> replay -> persist), segments and the ORM backend."""
