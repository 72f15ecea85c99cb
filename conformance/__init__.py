"""temix.conformance: the conformance suite that certifies any EI/TeMIX endpoint.

:mod:`~temix.conformance.catalogue` lists the tests, :mod:`~temix.conformance.trial` is what a
test works with, :mod:`~temix.conformance.runner` runs them, :mod:`~temix.conformance.reports`
writes JUnit, HTML and evidence, and :mod:`~temix.conformance.cli` is ``temix conformance``.
``docs/conformance.md`` is the user's guide.
"""
