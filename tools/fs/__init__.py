"""What the file tools build on: path resolution, listings, text decoding, fingerprints, backups, the trash."""
