"""Device adapters: wire codecs and the transports that carry them (MQTT, serial, evdev)."""
