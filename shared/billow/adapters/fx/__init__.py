"""Sources of foreign exchange reference rates (the ECB's euro reference rates)."""
