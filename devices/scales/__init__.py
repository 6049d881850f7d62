"""Scales: pure wire codecs (MT-SICS, Toledo continuous, NCI SCP-01), stable-weight detection, transports."""
