"""rxguard: keeps high-risk medicines safe from prescription to infusion."""

__version__ = "0.1.0"
