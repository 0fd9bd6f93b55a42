"""Renderers of billing documents (domain/billing_document.py): PDF and EN 16931 XML."""
