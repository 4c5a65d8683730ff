"""Files shipped inside every layer: stdlib-only, run by any Python 3, never imported here."""
