"""p2pilot: an autopilot daemon for Bybit P2P desks."""

__version__ = "0.4.1"
