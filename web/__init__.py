"""The web adapter: REST API, WebSocket stream and dashboard pages, built by an app factory."""
