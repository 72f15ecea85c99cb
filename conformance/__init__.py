"""temix.conformance: the conformance suite (see the conformance issue); nothing here yet."""
