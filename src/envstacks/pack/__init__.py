"""Publishing: reproducible layer archives (pluggy formats), their metadata, staging and export."""
