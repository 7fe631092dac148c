"""A benchmark city: real keys, card faces signed exactly as the issuer signs them, a trust publication.

Built from ``verifier_sdk.format`` alone, so the verifier figures do not depend on ``issuer/``
(issuance and scan figures use the real ``issuer.Issuer``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from verifier_sdk.format import jws
from verifier_sdk.format.qr import encode_qr
from verifier_sdk.format.statuslist import StatusList, make_status_list_token

ISSUER = "https://id.example.gov"
STATUS_URI = f"{ISSUER}/status/1"
NOW = 1_780_000_000  # a fixed clock: 2026-05-28
YEAR = 365 * 86400
HEADER = {"typ": "dc+sd-jwt", "kid": "k1"}  # sign() puts "alg" first, as the contract fixes

#: A 40-character Latin name: the README's "id face, 40-character ASCII name" row.
NAME = ("Maria Guadalupe Alejandra", "Hernandez Lopez")
#: Name parts in several scripts: QR size rows draw random 40-character names from these
#: (most parts are not in the QR dictionary, as most residents' names will not be).
NAME_POOLS = {
    "latin": ("Maria Guadalupe Alejandra Jean-Baptiste Emmanuel Oluwaseun Francesca Bartholomew Esperanza Konstantin "
              "Wilhelmina Christopher Anastasia Giovanni Rosalind Maximiliano Evangeline Sebastian Clementine Ignatius",
              "Hernandez Lopez Okonkwo Fitzgerald Rodriguez Vandenberghe Montgomery Castellanos Papadopoulos Kowalczyk "
              "Abernathy Villanueva Szczepanski Oyelaran Delacroix Whitfield Achterberg Nakamura Bjornstad Quintanilla"),
    "cyrillic": ("Светлана Геннадьевна Евгения Святославовна Людмила Аркадьевна Всеволод Ярославович Богдана "
                 "Ростиславовна Зинаида Тимофеевна Мстислав Вячеславович Фаина Эдуардовна Григорий Поликарпович",
                 "Крутиховская Белова Верхоглядова Щукина Жуковская Остроумова Добржанский Филимонов Чернышевская "
                 "Пантелеева Хмельницкий Задорожный Бестужева Рюмина Шапошников Гаврилюк Ефремова Погодина Юшкевич"),
    "arabic": ("خديجة نور الهدى عبد الكريم مصطفى زينب أسماء إسماعيل صلاح الدين رقية هشام منصور سلمى جميلة طارق بسام ياسمين",
               "البرغوثي العمراني القحطاني الشمري الزهراني المصري التميمي الحداد النجار الخطيب الدوسري العتيبي الكبيسي "
               "الجبوري السويدي البغدادي الحلبي الطرابلسي المغربي الفاسي"),
    "vietnamese": ("Nguyễn Thị Thu Hằng Diệp Phương Quỳnh Trâm Ngọc Ánh Xuân Khánh Hoài Bảo Tường Vy Quốc Cường Thiện Nhân",
                   "Trương Quỳnh Tâm Huỳnh Đặng Võ Phạm Lương Bùi Đoàn Dương Hồ Lưu Trịnh Kiều Tôn Thất Mạc Âu Chu"),
}
#: The prescription-discount routing numbers of a realistic programme (city-wide constants).
RX_ROUTING = {"rx_bin": "610591", "rx_pcn": "CITYRX", "rx_group": "MUNIRX01"}


def name_of_length(script: str, rng: random.Random, length: int = 40) -> tuple[str, str]:
    """A random given and family name in ``script``, exactly ``length`` characters together."""
    given_pool, family_pool = (part.split() for part in NAME_POOLS[script])
    given = " ".join(rng.sample(given_pool, 2))
    family = rng.choice(family_pool)
    while len(given) + len(family) < length:
        family += ("-" if script in ("latin", "cyrillic") else " ") + rng.choice(family_pool)
    family = family[: length - len(given)].rstrip(" -")
    while len(given) + len(family) < length:
        family += family_pool[0][0]
    return given, family


#: Fixed names in several scripts.
NAMES = {
    "ascii": NAME,
    "vietnamese": ("Nguyễn Thị Thu Hằng Diệp", "Trương Quỳnh Tâm"),
    "arabic": ("عبد الرحمن مصطفى", "القحطاني الشمري الزهراني"),
    "cyrillic": ("Александра Владимировна", "Преображенская Ли"),
    "chinese, 4 characters": ("明华", "欧阳"),
}


@dataclass
class BenchCity:
    """Root key, card key k1, status key s1, one 2-bit status list; deterministic when given a seed."""

    seed: int = 2026
    status_size: int = 1 << 20
    root: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    status_key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.status = StatusList.empty(self.status_size, 2)

    # -- card faces (payload key order as the contract fixes it) --------------------------------
    def _common(self, face: str, now: int = NOW) -> dict[str, Any]:
        return {
            "iss": ISSUER,
            "vct": f"urn:cityid:{face}:1",
            "exp": (now // 86400 + 4 * 365 + self.rng.randrange(365)) * 86400 - 1,  # the end of a day, as issued
            "status": {"status_list": {"idx": self.rng.randrange(100_000, min(1_000_000, self.status_size)), "uri": STATUS_URI}},
        }

    def culture(self) -> str:
        return self.culture_at(NOW)

    def culture_at(self, now: int, variant: int = 0) -> str:
        """A culture face valid at ``now``; ``variant`` 1-3 carry thresholds crossed while the card is valid."""
        claims = [
            {"age_over_18": True, "age_over_21": True, "age_over_65": False},
            {"age_over_18": True, "age_over_21": True, "age_over_65_from": f"20{self.rng.randrange(27, 31)}-{self.rng.randrange(1, 13):02d}-01"},
            {"age_over_18": True, "age_over_21_from": f"20{self.rng.randrange(27, 31)}-{self.rng.randrange(1, 13):02d}-01", "age_over_65": False},
            {"age_over_18_from": f"20{self.rng.randrange(27, 29)}-{self.rng.randrange(1, 13):02d}-01",
             "age_over_21_from": f"20{self.rng.randrange(30, 32)}-{self.rng.randrange(1, 13):02d}-01", "age_over_65": False},
        ][variant % 4]
        claims["museum_tier"] = ("gold", "silver", "bronze", "student", "family")[self.rng.randrange(5)]
        return jws.sign(HEADER, {**self._common("culture", now), **claims}, self.key, "ES256") + "~"

    def rx(self) -> str:
        claims = {"rx_eligible": True, **RX_ROUTING}
        return jws.sign(HEADER, {**self._common("rx"), **claims}, self.key, "ES256") + "~"

    def id_face(self, given_name: str = NAME[0], family_name: str = NAME[1]) -> str:
        claims = {"given_name": given_name, "family_name": family_name, "birthdate": "1987-06-24",
                  "card_number": f"{self.rng.randrange(10**12):012d}"}
        return jws.sign(HEADER, {**self._common("id"), **claims}, self.key, "ES256") + "~"

    def qr(self, sd_jwt: str) -> str:
        return encode_qr(sd_jwt)

    # -- trust data -------------------------------------------------------------------------------
    def public_jwk(self) -> dict[str, Any]:
        return jws.public_key_to_jwk(self.key.public_key())

    def status_token(self, iat: int = NOW - 3600) -> str:
        return make_status_list_token(self.status, sub=STATUS_URI, iss=ISSUER, kid="s1", private_key=self.status_key,
                                      iat=iat, ttl=86400, exp=iat + 7 * 86400)

    def publish(self, folder: Path, status_token: str | None = None) -> Path:
        """A publication folder as ``cityid-issuer publish`` writes it."""
        (folder / "status").mkdir(parents=True, exist_ok=True)
        thumb = jws.jwk_thumbprint(jws.public_key_to_jwk(self.root.public_key()))
        claims = {
            "iss": ISSUER, "version": 1, "iat": NOW - 3600, "exp": NOW + 2 * YEAR,
            "issuer_keys": [{"kid": kid, "role": role, "alg": "ES256", "jwk": jws.public_key_to_jwk(key.public_key()),
                             "not_before": NOW - YEAR, "not_after": NOW + 10 * YEAR, "withdrawn": False}
                            for kid, role, key in (("k1", "card", self.key), ("s1", "status", self.status_key))],
            "status_lists": [{"uri": STATUS_URI, "path": "status/1.jwt"}],
            "publication_url": f"{ISSUER}/trust/",
        }
        (folder / "trust-bundle.jwt").write_text(jws.sign({"typ": "cityid-trust+jwt", "kid": thumb}, claims, self.root, "ES256"))
        (folder / "status" / "1.jwt").write_text(status_token or self.status_token())
        (folder / "root-key.pem").write_bytes(self.root.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        return folder
