"""The city's configuration file (``city.json``): issuer identity, card faces, validity, URLs.

Faces are configuration, not code.  A face may only carry claims the issuer knows
how to fill, and never address, contact details, place of origin or immigration
status: those names are refused outright so a config edit cannot put them on a card.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from verifier_sdk.format.statuslist import max_entries

from .errors import ConfigError, IssuerError
from .files import write_atomic
from .hsm import is_token_uri, parse_uri
from .registry_pg import check_url

CONFIG_FILE = "city.json"
#: The most 2-bit entries a status list may have so that its token fits the verifier's cap whatever is revoked.
MAX_STATUS_LIST_ENTRIES = max_entries(2)
CONFIG_FORMAT = 1

#: Claims the issuer can fill from an enrolment record or city.json (plus any age_over_NN).
KNOWN_CLAIMS = ("given_name", "family_name", "birthdate", "card_number", "gender", "museum_tier", "rx_eligible",
                "rx_bin", "rx_pcn", "rx_group")
#: The prescription-discount programme's routing numbers: the same on every card, set in city.json.
RX_ROUTING = ("rx_bin", "rx_pcn", "rx_group")
AGE_CLAIM = re.compile(r"age_over_(\d{1,3})")
_RX_FORMATS = {"rx_bin": r"[0-9]{6}", "rx_pcn": r"[A-Za-z0-9]{1,10}", "rx_group": r"[A-Za-z0-9-]{1,15}"}
#: Substrings of claim names that would put a resident at risk if printed on a card.
FORBIDDEN_CLAIM_PARTS = (
    "address", "street", "locality", "postal", "zip", "city", "region", "country",
    "email", "phone", "contact", "birth_place", "place_of_birth", "birthplace", "origin",
    "nationality", "citizenship", "immigration", "visa", "residency", "legal_status",
)


@dataclass(frozen=True)
class Face:
    """One purpose-scoped credential printed as its own QR code."""

    name: str
    vct: str
    claims: tuple[str, ...]
    disclosable: tuple[str, ...] = ()
    label: str = ""


#: Vault periods: each has its own key, so records shred a period at a time.
VAULT_PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class VaultConfig:
    """The records vault (``issuer/vault.py``): off unless ``enabled``."""

    enabled: bool = False
    #: Shred at publish every period that began more than this many days ago; null keeps records until `shred`.
    #: Choose a period no longer than this: a period goes whole, so a shorter retention shreds this month's records.
    retention_days: int | None = None
    period: str = "month"
    #: Where the period keys are, never in the city folder (a backup of it must hold only ciphertext).  Key files:
    #: a folder, "" for ``<city folder>.vault-keys`` beside the city folder.  HSM city: "" for the city's token,
    #: or the pkcs11: URI of a token of the vault's own (PIN in CITYID_VAULT_PIN).
    key_store: str = ""


@dataclass(frozen=True)
class CityConfig:
    issuer: str
    faces: tuple[Face, ...]
    validity_days: int = 5 * 365
    status_list_uri_base: str = ""
    publication_url: str = ""
    status_list_capacity: int = 2**20
    #: Open the next status list when this share of the current one is used (random allocation stays cheap).
    status_list_fill: float = 0.5
    status_list_ttl: int = 86400
    status_list_lifetime_hours: int = 72
    #: How long one issuing key may sign before it must be rotated.
    key_issuing_days: int = 365
    #: A signed trust bundle expires this long after the root signs it: a little over the yearly root ceremony.
    bundle_lifetime_days: int = 400
    max_name_length: int = 100
    card_title: str = "Municipal ID"
    #: Extra fonts for printed names (``path`` or ``path#face`` of a .ttc), tried before the Noto chain.
    card_fonts: tuple[str, ...] = ()
    #: Print a name with characters no card font has (as boxes) instead of refusing the row.
    allow_missing_glyphs: bool = False
    #: Refuse rows without a photo.
    require_photo: bool = False
    #: QR mask pattern 0-7, or None to pick the best-scoring one by the ISO penalty rules (7x slower QR encoding).
    qr_mask: int | None = None
    #: Where the keys live: "" for key files in keys/, or a pkcs11: URI (token and module; never the PIN).
    key_store: str = ""
    #: The card registry: "" for registry.sqlite here, or a postgresql:// URL shared by every centre (no password).
    registry: str = ""
    insecure_demo: bool = False
    #: Self-designated genders a resident may choose (never required); "X" must be among them.
    gender_options: tuple[str, ...] = ("F", "M", "X")
    #: The prescription-discount programme's BIN, PCN and group, carried by the rx face ("" = not set).
    rx_bin: str = ""
    rx_pcn: str = ""
    rx_group: str = ""
    vault: VaultConfig = VaultConfig()
    format: int = CONFIG_FORMAT

    def status_list_uri(self, list_no: int) -> str:
        return f"{self.status_list_uri_base.rstrip('/')}/{list_no}"

    def face(self, name: str) -> Face:
        for face in self.faces:
            if face.name == name:
                return face
        raise ConfigError(f"no card face named {name!r}", "check the faces in city.json")


def default_faces() -> tuple[Face, ...]:
    """One face per kind of desk, each carrying only what that desk reads."""
    return (
        Face("id", "urn:cityid:id:1", ("given_name", "family_name", "birthdate", "card_number"), (), "ID - banks, libraries"),
        Face("culture", "urn:cityid:culture:1", ("age_over_18", "age_over_21", "age_over_65", "museum_tier"), (),
             "Museums"),
        Face("rx", "urn:cityid:rx:1", ("rx_eligible", *RX_ROUTING), (), "Pharmacies"),
    )


def default_config(issuer: str, *, insecure_demo: bool = False) -> CityConfig:
    base = issuer.rstrip("/")
    return validate(CityConfig(
        issuer=issuer, faces=default_faces(), status_list_uri_base=f"{base}/status",
        publication_url=f"{base}/trust/", insecure_demo=insecure_demo,
    ))


def check_claim_name(name: str) -> None:
    """Refuse claim names that must never be on a card, and names the issuer cannot fill."""
    lowered = name.lower()
    if any(part in lowered for part in FORBIDDEN_CLAIM_PARTS):
        raise ConfigError(f"claim {name!r} is not allowed on any card face",
                          "cards never carry address, contact details, place of origin or immigration status")
    if name not in KNOWN_CLAIMS and not AGE_CLAIM.fullmatch(name):
        raise ConfigError(f"claim {name!r} is unknown to the issuer",
                          f"faces may list {', '.join(KNOWN_CLAIMS)} and age_over_NN")


def validate(config: CityConfig) -> CityConfig:
    if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~/-]*)?", config.issuer):
        raise ConfigError("issuer must be an https URL such as https://id.example.gov", "fix 'issuer' in city.json")
    if not config.faces:
        raise ConfigError("no card faces configured", "add at least one face to city.json")
    names, vcts = set(), set()
    for face in config.faces:
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", face.name) or face.name in names:
            raise ConfigError(f"face name {face.name!r} is invalid or repeated", "use short lowercase names")
        if not face.vct or face.vct in vcts:
            raise ConfigError(f"face {face.name!r} needs its own vct", "give every face a distinct vct")
        if not face.claims or len(set(face.claims)) != len(face.claims):
            raise ConfigError(f"face {face.name!r} lists no claims or repeats one", "fix its claim list")
        for claim in face.claims:
            check_claim_name(claim)
        if not set(face.disclosable) <= set(face.claims):
            raise ConfigError(f"face {face.name!r}: disclosable claims must be among its claims", "fix 'disclosable'")
        names.add(face.name)
        vcts.add(face.vct)
    if not (1 <= config.validity_days <= 20 * 365):
        raise ConfigError("validity_days must be between 1 and 7300", "fix city.json")
    if not (16 <= config.status_list_capacity <= MAX_STATUS_LIST_ENTRIES) or config.status_list_capacity % 8:
        # Larger lists could outgrow the verifier's token cap once enough cards are revoked.
        raise ConfigError(f"status_list_capacity must be a multiple of 8 between 16 and {MAX_STATUS_LIST_ENTRIES}", "fix city.json")
    if not (1 <= config.bundle_lifetime_days <= 3 * 365):
        raise ConfigError("bundle_lifetime_days must be between 1 and 1095", "fix city.json")
    if not (0.05 <= config.status_list_fill <= 0.9):
        raise ConfigError("status_list_fill must be between 0.05 and 0.9", "fix city.json")
    if not isinstance(config.card_fonts, tuple) or not all(isinstance(f, str) and f for f in config.card_fonts):
        raise ConfigError("card_fonts must be a list of font file paths", "fix city.json")
    if not isinstance(config.allow_missing_glyphs, bool) or not isinstance(config.require_photo, bool):
        raise ConfigError("allow_missing_glyphs and require_photo must be true or false", "fix city.json")
    if config.qr_mask is not None and config.qr_mask not in range(8):
        raise ConfigError("qr_mask must be null or 0-7", "fix city.json")
    if not config.status_list_uri_base.startswith("https://"):
        raise ConfigError("status_list_uri_base must be an https URL", "fix city.json")
    if "X" not in config.gender_options or not all(re.fullmatch(r"[A-Za-z]{1,16}", g) for g in config.gender_options):
        raise ConfigError("gender_options must be short words and include X", "fix gender_options in city.json")
    for name, pattern in _RX_FORMATS.items():
        value = getattr(config, name)
        if value and not re.fullmatch(pattern, value):
            raise ConfigError(f"{name} is not a valid routing value", f"fix {name} in city.json (the programme's letter gives it)")
    _check_stores(config)
    _validate_vault(config.vault)
    return config


def _check_stores(config: CityConfig) -> None:
    vault_in_token = is_token_uri(config.vault.key_store)
    try:
        if config.key_store:
            parse_uri(config.key_store)
        if vault_in_token:
            parse_uri(config.vault.key_store)
        if config.registry:
            check_url(config.registry)
    except IssuerError as exc:
        raise ConfigError(exc.message, exc.advice) from None
    if config.key_store and config.insecure_demo:
        raise ConfigError("a city with keys in an HSM cannot be an insecure demo", "drop --insecure-demo")
    # Period keys are kept like the city's keys: sealed with the passphrase an HSM city lacks, or in a token.
    if config.key_store and config.vault.key_store and not vault_in_token:
        raise ConfigError("in a city whose keys are in an HSM the vault's period keys are kept in a token too",
                          "leave vault.key_store empty (the city's token) or name a token of the vault's own as "
                          "pkcs11:token=LABEL?module-path=...")
    if vault_in_token and not config.key_store:
        raise ConfigError("vault.key_store names a token, but this city's keys are key files",
                          "leave vault.key_store empty or name a folder outside the city folder")


def _validate_vault(vault: VaultConfig) -> None:
    if not isinstance(vault.enabled, bool) or not isinstance(vault.key_store, str):
        raise ConfigError("vault.enabled must be true or false and vault.key_store a folder or a pkcs11: URI",
                          "fix city.json")
    if vault.period not in VAULT_PERIODS:
        raise ConfigError(f"vault.period must be one of {', '.join(VAULT_PERIODS)}", "fix city.json")
    days = vault.retention_days
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 100 * 365):
        raise ConfigError("vault.retention_days must be null or a number of days", "fix city.json")


def to_json(config: CityConfig) -> str:
    data = asdict(config)
    data["faces"] = {f["name"]: {k: list(v) if isinstance(v, tuple) else v for k, v in f.items() if k != "name"}
                     for f in data["faces"]}
    order = ["format", "issuer", "faces"]
    return json.dumps({k: data[k] for k in order} | {k: v for k, v in data.items() if k not in order},
                      indent=2, ensure_ascii=False) + "\n"


def from_json(text: str) -> CityConfig:
    try:
        data: dict[str, Any] = json.loads(text)
        faces = tuple(
            Face(name, spec["vct"], tuple(spec["claims"]), tuple(spec.get("disclosable", ())), spec.get("label", ""))
            for name, spec in data.pop("faces").items()
        )
        old_font = data.pop("card_font", "")  # one font for everything (cityid 0.1): now the first extra font
        extra_fonts = data.get("card_fonts", [])
        if not isinstance(extra_fonts, list):
            raise ConfigError("card_fonts must be a list of font file paths", "fix city.json")
        data["card_fonts"] = ((old_font,) if old_font else ()) + tuple(extra_fonts)
        if "vault" in data:
            unknown = set(data["vault"]) - set(VaultConfig.__dataclass_fields__)
            if unknown:
                raise ConfigError(f"unknown vault setting(s) {', '.join(sorted(unknown))}",
                                  "vault takes enabled, retention_days, period and key_store")
            data["vault"] = VaultConfig(**data["vault"])
        if data.get("format", CONFIG_FORMAT) != CONFIG_FORMAT:
            raise ConfigError("city.json is from another version of cityid", "upgrade cityid-issuer")
        if "gender_options" in data:
            data["gender_options"] = tuple(data["gender_options"])
        return validate(CityConfig(faces=faces, **data))
    except ConfigError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"city.json is not valid ({type(exc).__name__})", "compare it with a fresh `cityid-issuer init`") from None


def load(city_dir: Path) -> CityConfig:
    path = Path(city_dir) / CONFIG_FILE
    try:
        return from_json(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} not found", "run `cityid-issuer init DIR` first or check the directory") from None


def save(city_dir: Path, config: CityConfig) -> None:
    write_atomic(Path(city_dir) / CONFIG_FILE, to_json(validate(config)).encode("utf-8"), mode=0o600)

