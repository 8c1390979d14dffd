"""`otobot run`: the daemon: config, store, keys and logging wired together, the supervisor, the event loop."""
