"""temix.server: the SOAP 1.1/1.2 interop server (see the server issue); nothing here yet."""
