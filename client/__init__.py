"""temix.client: the reference client for any EI/TeMIX endpoint, in Python
(:class:`Client`) and on the command line (``temix client``)."""

from temix.client.api import Client, Signing, tls_session
from temix.client.errors import (
    BadReply,
    ClientError,
    Refused,
    SoapFault,
    TransportFailure,
    UnverifiedReply,
)
from temix.client.wsdl import WsdlError

__all__ = [
    "BadReply",
    "Client",
    "ClientError",
    "Refused",
    "Signing",
    "SoapFault",
    "TransportFailure",
    "UnverifiedReply",
    "WsdlError",
    "tls_session",
]
