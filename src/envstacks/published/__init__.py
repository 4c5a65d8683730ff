"""The published format: what a publish folder or registry artifact holds, written and read.

Manifests and layer metadata, file indexes, delta recipes, archive formats and their safe
readers, and the sources that open a folder, a URL or a registry: packing writes through this
package, deploying reads through it, the registry client moves it and merging combines it.
"""
