"""The Binance Alpha wire protocol: REST client, websocket streams, typed models, filters, errors."""
