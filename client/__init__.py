"""temix.client: the zeep-based reference client (see the client issue); nothing here yet."""
