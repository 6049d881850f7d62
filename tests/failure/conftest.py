"""The failure suite: every test here proves that FloorGate loses nothing when something breaks.

Each module sets `pytestmark = pytest.mark.failure`; `./run-tests -m failure` runs this tier alone.
"""
