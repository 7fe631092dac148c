"""cityid issuer: the city's side — keys, card faces, batch issuance, revocation, rotation, publication.

    from issuer import Issuer
    city = Issuer.init("city/", issuer="https://id.example.gov")   # passphrase from CITYID_PASSPHRASE
    card = city.issue_card({"given_name": "Ana", "family_name": "Pérez", "birthdate": "1990-01-31"})
    city.publish("city/publication")
"""

from .batch import BatchReport
from .city import IssuedCard, Issuer
from .errors import IssuerError

__all__ = ["Issuer", "IssuedCard", "BatchReport", "IssuerError"]
