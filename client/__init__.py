"""temix.client: the zeep-based reference client; not written yet."""
