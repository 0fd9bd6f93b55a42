"""Request models: the shapes the API accepts, validated strictly at the edge."""
