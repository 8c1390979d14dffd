"""SQLite: schema and migrations, every statement, records, fills, group commit, WAL, retention, the file lock."""
