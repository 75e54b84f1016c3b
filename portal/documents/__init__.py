"""Documents Veraz renders from published data (the order PDF)."""
