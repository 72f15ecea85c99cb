"""``temix demo``: a day in a transactive retail market, run over signed SOAP.

:mod:`~temix.client.demo.scenario` is the day as pure values (prices, customers and what their
devices do), :mod:`~temix.client.demo.run` plays it against a local ``temix serve`` through the
reference client, :mod:`~temix.client.demo.reconcile` checks the server's answers add up, and
:mod:`~temix.client.demo.report` writes the table, the chart and the HTML report.
"""
