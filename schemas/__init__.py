"""Paths of the bundled TeMIX-profile schemas, WSDLs and example documents."""

from pathlib import Path

SCHEMA_ROOT: Path = Path(__file__).resolve().parent
XSD_DIR: Path = SCHEMA_ROOT / "xsd"
DRIVER_XSD: Path = XSD_DIR / "temix.xsd"
WSDL: Path = SCHEMA_ROOT / "wsdl" / "temix.wsdl"
EXAMPLES_VALID: Path = SCHEMA_ROOT / "examples" / "valid"
EXAMPLES_INVALID: Path = SCHEMA_ROOT / "examples" / "invalid"
