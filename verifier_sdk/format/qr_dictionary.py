"""The preset DEFLATE dictionary of QR format version 1.

FROZEN: this dictionary is part of format version 1 ("CID1:").  Changing a single
byte makes every printed card unreadable, so a new dictionary needs a new version.

It holds the JSON our credentials are made of, least useful first: DEFLATE codes
short distances in fewer bits, so the strings every card repeats sit at the end.
Variable values (expiry, status index, the issuer's host) are left out between
the fixed parts, so each gap costs one match, not a mismatch.
"""

from __future__ import annotations

_PARTS = (
    # Key binding (credentials presented from a device) and holder keys: rare on printed cards.
    '{"alg":"ES256","typ":"kb+jwt"}{"iat":17,"aud":"https://","nonce":"","sd_hash":"',
    ',"cnf":{"jwk":{"kty":"EC","crv":"P-256","x":"","y":""}}',
    # Selectively disclosable claims: disclosure arrays and digests.
    '","given_name","","family_name","","birthdate","19","card_number","',
    '","age_over_18",true]","age_over_21",true]","age_over_65",false]","museum_tier","","rx_eligible",true]',
    '],"_sd_alg":"sha-256"}{"...":"","_sd":["',
    # Common name parts of the city's residents: multi-byte UTF-8 costs most as literals.
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐",
    "Александр Владимир Сергей Николай Дмитрий Ольга Елена Наталья Татьяна Ирина Мария "
    "ович овна евич евна ская ский енко Иванов Смирнов Кузнецов Попов ",
    "محمد أحمد عبد الله الرحمن علي حسن حسين فاطمة عائشة إبراهيم يوسف ",
    "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Thị Văn Hữu Đức Minh Ngọc Thanh Hương ",
    "María José Jesús Juan Luis Ana García Rodríguez Hernández López González Martínez Pérez Sánchez Ramírez Gómez ",
    ',"museum_tier":"silver","museum_tier":"bronze","age_over_65":true',
    # The two faces, each laid out exactly as signed, with the variable values cut out.
    '{"iss":"https://id.","vct":"urn:cityid:perks:1","exp":1,"status":{"status_list":{"idx":,"uri":"https://id.'
    '.gov/status/1"}},"age_over_18":true,"age_over_21":true,"age_over_65":false,"museum_tier":"gold","rx_eligible":true}',
    '{"iss":"https://id.","vct":"urn:cityid:id:1","exp":1,"status":{"status_list":{"idx":,"uri":"https://id.'
    '.gov/status/1"}},"given_name":"","family_name":"","birthdate":"19","card_number":"',
    # The header, first in every stream.
    '"}{"alg":"ES256","typ":"dc+sd-jwt","kid":"k1"}',
)

#: Preset dictionary for raw DEFLATE (zlib ``zdict``), format version 1.  Never edit.
DICTIONARY: bytes = "".join(_PARTS).encode("utf-8")
