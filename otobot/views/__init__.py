"""What people read: status rows, history, audit, charts, the daily summary: one source for CLI, Telegram, web."""
