"""Operating the daemon: control socket, notifications (+ Telegram), health, metrics, sd_notify, logs, secrets."""
