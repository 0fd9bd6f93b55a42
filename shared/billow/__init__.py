"""Billow: subscription and usage-based billing as serverless functions on AWS."""
