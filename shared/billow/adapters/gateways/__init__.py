"""Payment gateway adapters behind ports/gateways.py."""
