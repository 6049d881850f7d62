"""Pick-to-light modules over MQTT."""
