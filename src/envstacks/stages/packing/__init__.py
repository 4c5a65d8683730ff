"""Publishing: reproducible layer archives (pluggy formats) and their venvstacks metadata."""
