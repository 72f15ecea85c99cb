"""The catalogue's tests, one module per group or pair of groups; importing this package
registers every test of every module in it."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
