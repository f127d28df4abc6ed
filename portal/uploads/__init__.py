"""Resumable chunked uploads of large files (algorithm images, release archives), through Django's storage
API only, so they work on the local file system and on object storage alike. A core module: it imports no
app; the apps whose uploads these are keep their own rows (a ``ChunkedUpload`` subclass) and rules."""
