"""Settings: ``YIWANG_*`` environment variables over an optional TOML file over defaults.

The config file is named by ``YIWANG_CONFIG`` (default ``./yiwang.toml`` when it exists). Secrets
(keys) never live in the database: they are files under ``key_dir``.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the optional TOML config file; environment variables win over it."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = Path(os.environ.get("YIWANG_CONFIG", "yiwang.toml"))
        self._data: dict[str, Any] = {}
        if path.is_file():
            with path.open("rb") as fh:
                raw = tomllib.load(fh)
            self._data = {k: v for k, v in raw.get("yiwang", raw).items()}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIWANG_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    var_dir: Path = Path("var")
    database_url: str = ""
    """SQLAlchemy URL; empty means SQLite at ``{var_dir}/yiwang.db``."""
    datastore_url: str = ""
    """Where the open-data datastore keeps the rows of opened tables (a database of its own, so SQL
    run there cannot reach the platform's tables). Empty means, on SQLite, the file
    ``<main db stem>-datastore.db`` beside the main database, and on PostgreSQL the main database's
    server and database in the schema ``datastore`` (docs/adr/0012-datastore.md)."""
    db_pool_size: int = 10
    sqlite_busy_timeout_ms: int = 30_000
    sqlite_synchronous: Literal["FULL", "EXTRA", "NORMAL"] = "FULL"
    """FULL (default) makes every commit survive a power cut; NORMAL is faster in WAL mode but
    the last commits before a power cut may be lost (never corrupted). See docs/adr/0010-durability.md."""

    files_dir: Path | None = None
    """Stored uploads and documents; default ``{var_dir}/files``."""
    key_dir: Path | None = None
    """Key ring for field encryption, blind indexes and signing; default ``{var_dir}/keys``.
    Production keeps it on a different volume (or a KMS mount) from the database."""

    secret_key: str = ""
    """Signs cookies and CSRF tokens; generated into the key dir when empty."""
    session_hours: int = 8
    cookie_secure: bool = False

    hash_algorithm: Literal["sha256", "sm3"] = "sha256"
    sign_algorithm: Literal["ed25519", "sm2"] = "ed25519"
    cipher_algorithm: Literal["aes-gcm", "sm4-gcm"] = "aes-gcm"

    audit_chains: int = Field(default=1, ge=1, le=64)
    """Independent hash chains; more than one lets writers on PostgreSQL append in parallel."""
    audit_checkpoint_every: int = 10_000
    audit_checkpoint_dir: Path | None = None
    """Where signed checkpoints are exported (outside the database); default ``{var_dir}/checkpoints``."""

    actor_cache_seconds: float = Field(default=5.0, ge=0)
    """How long a worker may reuse a signed-in actor without reading the session again; 0 turns
    the cache off. Sign-out, role changes and revocations in this installation invalidate it at once."""
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    login_ip_max_failures: int = 100
    """Failed sign-ins from one network address, over any accounts, before that address is refused
    for a while (0: no such limit). Generous: a whole office or a mobile carrier may share one."""
    login_ip_window_minutes: int = 15
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65_536

    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scope: str = "openid profile email"

    huey_url: str = ""
    """Where the job queue lives; empty means a SQLite file under var_dir."""

    smtp_host: str = ""
    """SMTP server for e-mail notifications; empty means e-mail is not configured."""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_starttls: bool = False
    sms_gateway_url: str = ""
    """HTTP SMS gateway (POST JSON with a bearer token); empty means SMS is not configured."""
    sms_gateway_token: str = ""

    area_name: str = ""
    """Name of the city or district this installation serves, shown in every page header (e.g. 上海市)."""
    default_locale: str = "zh_Hans_CN"
    log_level: str = "INFO"
    max_upload_bytes: int = 10 * 1024 * 1024

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'yiwang.db').as_posix()}"

    @property
    def resolved_files_dir(self) -> Path:
        return self.files_dir or self.var_dir / "files"

    @property
    def resolved_key_dir(self) -> Path:
        return self.key_dir or self.var_dir / "keys"

    @property
    def resolved_checkpoint_dir(self) -> Path:
        return self.audit_checkpoint_dir or self.var_dir / "checkpoints"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI's ``--config`` use this)."""
    get_settings.cache_clear()
