"""temix: the TeMIX profile of EMIX 1.0 and Energy Interoperation 1.0.

This core package holds what the server, the client and the conformance suite share:
the typed model, the XML codec and the schema validation. It does no network or disk I/O
of its own beyond reading the bundled schemas.
"""

__version__ = "0.1.0"
