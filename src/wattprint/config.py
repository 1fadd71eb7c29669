"""Settings, resolved once at the edge, with where each value came from.

Precedence, highest first: explicit arguments (CLI flags, ``track(...)``
keywords) > ``WATTPRINT_*`` environment variables > the project file
``wattprint.toml`` (looked up from the working directory upwards) > the user
file (``<user config dir>/wattprint/config.toml``) > built-in defaults.

Invalid values fail fast with a :class:`~wattprint.errors.ConfigError` that
names the setting, where the bad value came from, and what is allowed.
``wattprint config`` prints the effective values and their origins.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from wattprint import validate
from wattprint.errors import ConfigError

ATTRIBUTIONS = ("machine", "process")
#: RAPL domains a run may count the CPU with: ``package`` (packages + DRAM) or
#: ``psys`` (the platform domain, where the firmware exposes it).
RAPL_MODES = ("package", "psys")
PROJECT_FILE = "wattprint.toml"


def default_home() -> Path:
    """The default store directory: the user data dir (``~/.local/share/wattprint``)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("wattprint", appauthor=False))


def user_config_file() -> Path:
    """The user config file (``~/.config/wattprint/config.toml``)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("wattprint", appauthor=False)) / "config.toml"


@dataclass(frozen=True)
class Settings:
    """Effective settings of one wattprint invocation.

    Attributes:
        home: directory of the SQLite store (``WATTPRINT_HOME``); ``None`` for
            the user data directory (see :attr:`store_dir`).
        store: the store to use instead of ``<home>/wattprint.db``
            (``WATTPRINT_STORE``): ``postgresql://...`` for a shared PostgreSQL
            store, or ``sqlite:///path/wattprint.db``; ``None`` for the default.
            Shown with its password masked (:func:`mask_store_url`).
        project: project name runs are filed under.
        interval_s: sampling interval in seconds (0.01 to 3600).
        attribution: ``machine`` (whole devices) or ``process`` (the tracked
            process tree's share) for run totals; both are always stored.
        region: grid region code, or ``None`` (world average, labelled).
        pue: power usage effectiveness of the data centre (>= 1), or ``None``
            for the documented default.
        sensors: sensor names to use, or empty for auto-detection.
        rapl_mode: ``package`` (package + dram) or ``psys``.
        sysfs_root: sysfs root (``WATTPRINT_SYSFS_ROOT``).
        hardware: overrides of the hardware catalogue (the ``[hardware]`` table of
            the config files; see docs/hardware-catalogue.md).
        live: credentials of the live intensity APIs from the ``[live]`` table
            (``electricitymaps_token``, ``watttime_username``,
            ``watttime_password``); never printed. The environment variables
            of the same names (``WATTPRINT_ELECTRICITYMAPS_TOKEN``...) win.
        node_power: read the node's wall power from its BMC: ``ipmi``,
            ``redfish`` or ``off`` (``WATTPRINT_NODE_POWER``; see
            :mod:`wattprint.sensors.node_power`).
        node_power_period_s: seconds between two polls of the BMC (0.5 to 3600).
        node_power_timeout_s: longest one BMC poll may take, s (0.1 to 60).
        redfish_url: the BMC's Redfish base URL (``https://bmc.example``);
            a password in it is masked when shown.
        redfish_user: the Redfish user; shown masked.
        redfish_password_file: a file whose first line is the Redfish password.
        redfish_chassis: the chassis id (default: the first that reports power).
        redfish_auth: ``basic`` or ``session``.
        redfish_verify: check the BMC's TLS certificate: ``True``, ``False``
            or the path of a CA bundle.
        ipmi_interface: ipmitool's ``-I`` (``lanplus``, ``lan``, ``open``);
            ``None``: in-band on this node.
        ipmi_host: the BMC's address for ``-H`` (out-of-band).
        ipmi_user: the IPMI user for ``-U``; shown masked.
        ipmi_password_file: the password file for ipmitool's ``-f``.
        origins: for each field, where its value came from.
    """

    home: Path | None = None
    store: str | None = None
    project: str = "default"
    interval_s: float = 1.0
    attribution: str = "machine"
    region: str | None = None
    pue: float | None = None
    sensors: tuple[str, ...] = ()
    rapl_mode: str = "package"
    sysfs_root: Path = Path("/sys")
    hardware: Mapping[str, Any] = field(default_factory=dict)
    live: Mapping[str, str] = field(default_factory=dict, repr=False)
    node_power: str = "off"
    node_power_period_s: float = 5.0
    node_power_timeout_s: float = 3.0
    redfish_url: str | None = field(default=None, repr=False)
    redfish_user: str | None = field(default=None, repr=False)
    redfish_password_file: Path | None = None
    redfish_chassis: str | None = None
    redfish_auth: str = "basic"
    redfish_verify: bool | str = True
    ipmi_interface: str | None = None
    ipmi_host: str | None = None
    ipmi_user: str | None = field(default=None, repr=False)
    ipmi_password_file: Path | None = None
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def store_dir(self) -> Path:
        """Directory of the store: :attr:`home`, else the user data directory."""
        return self.home if self.home is not None else default_home()

    @property
    def db_path(self) -> Path:
        """Path of the SQLite store file (the one a ``sqlite:`` :attr:`store` names)."""
        if self.store is not None and self.store.startswith("sqlite:"):
            return sqlite_url_path(self.store)
        return self.store_dir / "wattprint.db"

    @property
    def store_target(self) -> Path | str:
        """What to open the store with: a PostgreSQL URL, else :attr:`db_path`."""
        if self.store is not None and is_postgres_url(self.store):
            return self.store
        return self.db_path

    @property
    def store_shown(self) -> str:
        """The store as messages name it: a file path, or a URL with its password masked."""
        target = self.store_target
        return mask_store_url(target) if isinstance(target, str) else str(target)

    def live_environ(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment with the ``[live]`` credentials added where the variable is unset."""
        env = dict(os.environ if environ is None else environ)
        for key, value in self.live.items():
            env.setdefault(LIVE_KEYS[key], value)
        return env

    def effective(self) -> dict[str, tuple[Any, str]]:
        """Each setting's value and origin, for ``wattprint config``."""
        out: dict[str, tuple[Any, str]] = {}
        for f in fields(self):
            if f.name == "origins":
                continue
            value = self.store_dir if f.name == "home" else getattr(self, f.name)
            if f.name == "live":  # secrets: say which are set, never their values
                value = sorted(self.live)
            if f.name == "store" and self.store is not None:
                value = mask_store_url(self.store)
            if f.name in MASKED and value is not None:  # BMC credentials: never shown
                value = "***" if f.name != "redfish_url" else mask_store_url(str(value))
            out[f.name] = (value, self.origins.get(f.name, "default"))
        return out


def _parse_interval(value: Any) -> float:
    try:
        v = validate.finite(value, "interval")
    except ConfigError:
        v = -1.0  # the message below says what is allowed
    if not 0.01 <= v <= 3600:
        raise ValueError("must be between 0.01 and 3600 seconds")
    return v


def _parse_choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        v = str(value).strip().lower()
        if v not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return v

    return parse


def _parse_pue(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return validate.pue(value, "pue")
    except ConfigError:
        raise ValueError(f"must be a number between {validate.PUE_MIN:g} and "
                         f"{validate.PUE_MAX:g} (1.0 = no overhead)") from None


def _parse_sensors(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [s.strip() for s in value.split(",")]
    else:
        items = [str(s).strip() for s in value]
    return tuple(s for s in items if s)


def _parse_str(value: Any) -> str:
    v = str(value).strip()
    if not v:
        raise ValueError("must not be empty")
    return v


def _parse_optional_str(value: Any) -> str | None:
    v = str(value).strip() if value is not None else ""
    return v or None


def _parse_path(value: Any) -> Path:
    try:
        return Path(str(value)).expanduser()
    except RuntimeError as exc:  # "~nosuchuser/x": no such user's home
        raise ValueError(f"cannot expand the home directory ({exc}); give a full path") from None


def is_postgres_url(text: str) -> bool:
    """Whether a store setting names a PostgreSQL database."""
    return text.startswith(("postgresql://", "postgres://"))


def sqlite_url_path(url: str) -> Path:
    """The file of a ``sqlite:///abs/path`` (or ``sqlite:relative/path``) URL."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    text = unquote(parts.netloc + parts.path)
    if text.startswith("/"):  # sqlite:////abs/path (four slashes) names the same file
        text = "/" + text.lstrip("/")
    return Path(text).expanduser()


def mask_store_url(url: str) -> str:
    """A store URL fit to print: its password (in the authority or the query) as ``***``.

    >>> mask_store_url("postgresql://wattprint:s3cret@db:5432/wattprint?password=x")
    'postgresql://wattprint:***@db:5432/wattprint?password=***'
    """
    import re
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # unparsable: show nothing after the scheme that could be a secret
        return url.split(":", 1)[0] + "://***"
    shown = url
    if password is not None:
        user, _, host = parts.netloc.rpartition("@")
        shown = shown.replace(parts.netloc, f"{user.split(':', 1)[0]}:***@{host}", 1)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", shown, flags=re.IGNORECASE)


def _parse_store(value: Any) -> str | None:
    v = str(value).strip() if value is not None else ""
    if not v:
        return None
    if is_postgres_url(v):
        return v
    if v.startswith("sqlite:"):
        if not sqlite_url_path(v).name:
            raise ValueError("must name a file: sqlite:///path/to/wattprint.db")
        return v
    raise ValueError("must be a postgresql://user@host/database URL or sqlite:///path/to/file.db")


#: settings shown masked by :meth:`Settings.effective` (a URL keeps all but its password)
MASKED = frozenset({"redfish_user", "ipmi_user", "redfish_url"})
NODE_POWER_METHODS = ("off", "ipmi", "redfish")
REDFISH_AUTHS = ("basic", "session")


def _parse_range(low: float, high: float, unit: str) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        try:
            v = validate.finite(value, "value")
        except ConfigError:
            v = low - 1.0  # the message below says what is allowed
        if not low <= v <= high:
            raise ValueError(f"must be between {low:g} and {high:g} {unit}")
        return v

    return parse


def _parse_optional_path(value: Any) -> Path | None:
    if value is None or str(value).strip() == "":
        return None
    return _parse_path(value)


def _parse_verify(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    v = str(value).strip()
    if v.lower() in ("1", "true", "yes", "on"):
        return True
    if v.lower() in ("0", "false", "no", "off"):
        return False
    if not v:
        raise ValueError("must be true, false or the path of a CA bundle")
    return str(_parse_path(v))


def _parse_http_url(value: Any) -> str | None:
    v = str(value).strip() if value is not None else ""
    if not v:
        return None
    if not v.startswith(("https://", "http://")):
        raise ValueError("must be an https:// (or http://) URL of the BMC")
    return v


def _parse_table(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError("must be a table")
    return dict(value)


#: keys of the ``[live]`` table -> the environment variable each stands for
LIVE_KEYS = {
    "electricitymaps_token": "WATTPRINT_ELECTRICITYMAPS_TOKEN",
    "watttime_username": "WATTPRINT_WATTTIME_USERNAME",
    "watttime_password": "WATTPRINT_WATTTIME_PASSWORD",
}


def _parse_live(value: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError("must be a table")
    unknown = [k for k in value if k not in LIVE_KEYS]
    if unknown:
        raise ValueError(f"has unknown key(s) {', '.join(unknown)}; known: "
                         f"{', '.join(LIVE_KEYS)}")
    return {k: str(v) for k, v in value.items()}


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "home": _parse_path,
    "store": _parse_store,
    "project": _parse_str,
    "interval_s": _parse_interval,
    "attribution": _parse_choice(ATTRIBUTIONS),
    "region": _parse_optional_str,
    "pue": _parse_pue,
    "sensors": _parse_sensors,
    "rapl_mode": _parse_choice(RAPL_MODES),
    "sysfs_root": _parse_path,
    "hardware": _parse_table,
    "live": _parse_live,
    "node_power": _parse_choice(NODE_POWER_METHODS),
    "node_power_period_s": _parse_range(0.5, 3600.0, "seconds"),
    "node_power_timeout_s": _parse_range(0.1, 60.0, "seconds"),
    "redfish_url": _parse_http_url,
    "redfish_user": _parse_optional_str,
    "redfish_password_file": _parse_optional_path,
    "redfish_chassis": _parse_optional_str,
    "redfish_auth": _parse_choice(REDFISH_AUTHS),
    "redfish_verify": _parse_verify,
    "ipmi_interface": _parse_optional_str,
    "ipmi_host": _parse_optional_str,
    "ipmi_user": _parse_optional_str,
    "ipmi_password_file": _parse_optional_path,
}

#: environment variable of each setting
ENV_VARS: dict[str, str] = {
    "home": "WATTPRINT_HOME",
    "store": "WATTPRINT_STORE",
    "project": "WATTPRINT_PROJECT",
    "interval_s": "WATTPRINT_INTERVAL",
    "attribution": "WATTPRINT_ATTRIBUTION",
    "region": "WATTPRINT_REGION",
    "pue": "WATTPRINT_PUE",
    "sensors": "WATTPRINT_SENSORS",
    "rapl_mode": "WATTPRINT_RAPL_MODE",
    "sysfs_root": "WATTPRINT_SYSFS_ROOT",
    "node_power": "WATTPRINT_NODE_POWER",
    "node_power_period_s": "WATTPRINT_NODE_POWER_PERIOD",
    "node_power_timeout_s": "WATTPRINT_NODE_POWER_TIMEOUT",
    "redfish_url": "WATTPRINT_REDFISH_URL",
    "redfish_user": "WATTPRINT_REDFISH_USER",
    "redfish_password_file": "WATTPRINT_REDFISH_PASSWORD_FILE",
    "redfish_chassis": "WATTPRINT_REDFISH_CHASSIS",
    "redfish_auth": "WATTPRINT_REDFISH_AUTH",
    "redfish_verify": "WATTPRINT_REDFISH_VERIFY",
    "ipmi_interface": "WATTPRINT_IPMI_INTERFACE",
    "ipmi_host": "WATTPRINT_IPMI_HOST",
    "ipmi_user": "WATTPRINT_IPMI_USER",
    "ipmi_password_file": "WATTPRINT_IPMI_PASSWORD_FILE",
}

#: keys accepted in config files (``interval`` is the file/CLI name of ``interval_s``)
FILE_KEYS: dict[str, str] = {name: name for name in _PARSERS} | {
    "interval": "interval_s", "node_power_period": "node_power_period_s",
    "node_power_timeout": "node_power_timeout_s"}


def find_project_file(start: Path) -> Path | None:
    """The nearest ``wattprint.toml`` in ``start`` or its parents, if any."""
    for directory in (start, *start.parents):
        candidate = directory / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}; fix the file or remove it") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path} is not valid TOML: its tables or arrays nest too deeply; "
                          "fix the file or remove it") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    # settings may sit at the top level or under [wattprint]
    section = data.get("wattprint", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [wattprint] must be a table")
    tables = {"hardware", "live"}
    unknown = [k for k in section if k not in FILE_KEYS and k not in tables]
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(FILE_KEYS))}"
        )
    out = {FILE_KEYS[k]: v for k, v in section.items() if k in FILE_KEYS}
    for table in tables:
        if table in section:
            if not isinstance(section[table], dict):
                raise ConfigError(f"{path}: [{table}] must be a table")
            out[table] = section[table]
    return out


def _apply(values: dict[str, Any], origins: dict[str, str], raw: Mapping[str, Any], origin: str,
           label: Callable[[str], str]) -> None:
    for name, value in raw.items():
        if value is None:
            continue
        try:
            values[name] = _PARSERS[name](value)
        except (ValueError, TypeError, ConfigError) as exc:
            shown = ("***" if name in MASKED and name != "redfish_url" else
                     _shown(mask_store_url(str(value)) if name == "redfish_url" else value))
            raise ConfigError(f"{label(name)} = {shown} (from {origin}) {exc}") from None
        origins[name] = origin


def _shown(value: Any) -> str:
    # a value from a file can be huge or nested; the message stays one readable line
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _user_file(env: Mapping[str, str]) -> Path:
    # the XDG location without importing platformdirs when XDG_CONFIG_HOME is set
    # or the default applies; platformdirs decides on other platforms
    if sys.platform.startswith("linux"):
        base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        return Path(base) / "wattprint" / "config.toml"
    return user_config_file()


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user_file: Path | None = None,
) -> Settings:
    """Resolve the effective settings.

    Args:
        overrides: explicit values (CLI flags, API keywords); ``None`` values
            are ignored so unset flags fall through.
        environ: environment (default ``os.environ``).
        cwd: where to start looking for ``wattprint.toml`` (default the
            working directory).
        user_file: the user config file (default :func:`user_config_file`).

    Raises:
        ConfigError: a value is invalid; the message names it and its origin.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    ufile = user_file if user_file is not None else _user_file(env)
    if ufile.is_file():
        _apply(values, origins, _read_toml(ufile), str(ufile), lambda n: n)
    pfile = find_project_file(cwd or Path.cwd())
    if pfile is not None:
        _apply(values, origins, _read_toml(pfile), str(pfile), lambda n: n)
    env_raw = {name: env[var] for name, var in ENV_VARS.items() if var in env and env[var] != ""}
    _apply(values, origins, env_raw, "environment", lambda n: ENV_VARS[n])
    if overrides:
        unknown = [k for k in overrides if k not in _PARSERS]
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)}")
        _apply(values, origins, overrides, "argument", lambda n: n)
    return replace(Settings(), **values, origins=origins)
