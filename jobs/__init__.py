"""Ray job entrypoints: each ``python -m jobs.<name> ...`` is a thin wrapper over the
library, runnable unchanged by ``ray job submit -- python -m jobs.<name>``."""
