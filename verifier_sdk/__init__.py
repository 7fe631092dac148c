"""cityid verifier SDK: verify city ID card QR codes offline.

    from verifier_sdk import TrustStore, Verifier
    trust = TrustStore.load("trust/", root_key="city-root.pem")
    cred = Verifier(trust, purpose="museum").verify(scanned_text)
    cred.claims   # only what a museum may see

``verify`` returns a :class:`VerifiedCredential` or raises a
:class:`VerificationError` subclass with a stable ``code``.  It never touches
the network.
"""

from .errors import VerificationError
from .format.qr import decode_qr, encode_qr
from .format.statuslist import StatusList
from .purpose import PRESETS, Purpose
from .scanner import clean_scan
from .trust import TrustStore
from .verifier import VerifiedCredential, Verifier

__all__ = [
    "PRESETS",
    "Purpose",
    "StatusList",
    "TrustStore",
    "VerificationError",
    "VerifiedCredential",
    "Verifier",
    "clean_scan",
    "decode_qr",
    "encode_qr",
]
__version__ = "0.1.0"
