"""temix.server: the interop server. ``temix.server.soap`` is its WSGI SOAP 1.1/1.2 binding."""
