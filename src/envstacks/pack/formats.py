"""Built-in archive formats (tar.xz, zip, tar.zst) offered through the archive-format hooks."""
