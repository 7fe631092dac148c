"""The wire format, shared by the verifier and the issuer.

This is the low-level layer (like ``cryptography.hazmat``): codecs that do not
decide whether a card is acceptable.  Partners use :class:`verifier_sdk.Verifier`.
"""
