"""The edge's own MQTT 3.1.1 client: wire packets, one connection, and the link that reconnects."""
