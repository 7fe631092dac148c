"""The preset DEFLATE dictionary of QR format version 2 (``CID2:``).

FROZEN: part of format version 2.  Changing a byte makes every card printed with it
unreadable (a test pins its SHA-256), so a new dictionary needs a new version.

It holds the three default faces (``id``, ``culture``, ``rx``) as the face layout
(:mod:`.face_layout`) writes them, with the variable values (host, names) cut out,
so each gap costs one match rather than a mismatch; then claim variants, and
common name fragments.  Names in non-Latin scripts are stored as the payload
carries them, in compact text (:mod:`.compact_text`).  DEFLATE codes near
distances in fewer bits, so what every card repeats sits at the end.
"""

from __future__ import annotations

from .compact_text import pack


def _packed(text: str) -> str:
    packed = pack(text.encode("utf-8"))
    assert packed is not None
    return packed.decode("latin-1")


_PARTS = (
    # Key binding (credentials presented from a device) and holder keys: rare on printed cards.
    '{"alg":"ES256","typ":"kb+jwt"}{"iat":17,"aud":"https://","nonce":"","sd_hash":"',
    ',"cnf":{"jwk":{"kty":"EC","crv":"P-256","x":"","y":""}}',
    # Selectively disclosable claims (wallet faces): disclosure arrays and digests.
    '","given_name","","family_name","","birthdate","19","card_number","","gender","',
    '],"_sd_alg":"sha-256"}{"...":"","_sd":["',
    # Common name parts of the city's residents: what literals would cost most.
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐",
    # (Vietnamese spreads over several windows, so its payloads stay UTF-8.)
    "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Thị Văn Hữu Đức Minh Ngọc "
    "Thanh Hương Thu Hằng Phương Quỳnh Anh Tuấn ",
    _packed("محمد أحمد عبد الله الرحمن علي حسن حسين فاطمة عائشة إبراهيم يوسف مصطفى خالد نور "
            "ال"),
    _packed("Александр Владимир Сергей Николай Дмитрий Андрей Ольга Елена Наталья Татьяна Ирина Мария Анна "
            "Светлана ович овна евич евна ская ский енко ова ева ина Иванов Смирнов Кузнецов Попов "),
    "María José Jesús Juan Luis Ana García Rodríguez Hernández López González Martínez Pérez Sánchez Ramírez Gómez ",
    # Claim variants.
    ',"gender":"X","gender":"F","gender":"M"',
    ',"museum_tier":"family","museum_tier":"student","museum_tier":"bronze","museum_tier":"silver"',
    ',"age_over_18_from":"20","age_over_21_from":"20-01",',
    # The three default faces as the face layout writes them (issuer host cut out), with their usual claims.
    'https://id..gov"urn:cityid:rx:1"\x01/status/1""rx_eligible":false,"rx_eligible":true,"rx_bin":"","rx_pcn":"","rx_group":"',
    'https://id..gov"urn:cityid:culture:1"\x01/status/1""age_over_18":false,"age_over_18":true,"age_over_21":true,'
    '"age_over_65":false,"age_over_65_from":"20-01","museum_tier":"gold"',
    'https://id..gov"urn:cityid:id:1"\x01/status/1""given_name":"","family_name":"","birthdate":"19","card_number":"',
    # The header, first in every stream.
    '"}{"alg":"ES256","typ":"dc+sd-jwt","kid":"k1"}',
)

#: Preset dictionary for raw DEFLATE (zlib ``zdict``), format version 2.  Never edit.
DICTIONARY: bytes = b"".join(p.encode("latin-1") if "\x00" in p else p.encode("utf-8") for p in _PARTS)
