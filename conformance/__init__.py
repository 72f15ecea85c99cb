"""temix.conformance: the conformance suite; not written yet."""
