"""Barcode scanners: HID keyboard-wedge (evdev or raw input_event records), serial and MQTT."""
