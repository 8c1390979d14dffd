"""The exchange simulator: plays binance.com's Alpha REST and websocket protocol on 127.0.0.1."""
