"""One module per page: `PATH`, `TITLE`, `layout(svc)` (no I/O), `register(app, svc)` and plain callback bodies."""
