"""Find registry credentials where Docker, Podman and CI put them: env vars, auth files, helpers.

Looked up in this order, the first match winning:

1. environment variables: ``ENVSTACKS_OCI_TOKEN`` (a registry bearer token, sent as is), or
   ``ENVSTACKS_OCI_USERNAME`` with ``ENVSTACKS_OCI_PASSWORD`` (a password or an access token:
   a GitHub token for GHCR, ``aws ecr get-login-password``, ``gcloud auth print-access-token``);
2. the auth files Podman and Docker read, in Podman's order: ``$REGISTRY_AUTH_FILE``,
   ``$XDG_RUNTIME_DIR/containers/auth.json``, ``~/.config/containers/auth.json``, then
   ``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``). In each file a
   ``credHelpers`` entry for the registry wins, then an ``auths`` entry (the registry, or the
   longest ``registry/namespace`` prefix of the repository, as Podman allows), then the
   ``credsStore`` helper. Helpers are the ``docker-credential-<name>`` programs on ``PATH``.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstacks.floor import bounded_json
from envstacks.floor.errors import EnvStacksError, JSONDocumentError, RegistryAuthError

TOKEN_VAR = "ENVSTACKS_OCI_TOKEN"  # noqa: S105 - a variable name
USERNAME_VAR = "ENVSTACKS_OCI_USERNAME"
PASSWORD_VAR = "ENVSTACKS_OCI_PASSWORD"  # noqa: S105 - a variable name
#: Docker Hub's key in auth files, and the other names it goes by.
_DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
#: What a credential helper answers for an identity (refresh) token instead of a user name.
#: Largest auth file or helper answer read.
_MAX_AUTH_FILE = 4 << 20
_TOKEN_USER = "<token>"  # noqa: S105 - the helpers' marker, not a secret


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """What to authenticate with, and where it came from (for messages)."""

    #: Where these came from: an environment variable, a file and its key, a helper.
    source: str
    username: str | None = None
    #: A password or a long-lived access token, used with ``username``.
    password: str | None = None
    #: An OAuth2 refresh token (Docker's ``identitytoken``), exchanged at the token service.
    identity_token: str | None = None
    #: A registry bearer token, sent as is without asking a token service.
    registry_token: str | None = None

    @property
    def basic(self) -> tuple[str, str] | None:
        """``(username, password)`` when both are known."""
        if self.username is not None and self.password is not None:
            return self.username, self.password
        return None


def auth_files(environ: Mapping[str, str]) -> list[Path]:
    """The auth files to read, in Podman's order (missing ones included)."""
    home = Path(environ.get("HOME") or Path.home())
    files: list[Path] = []
    if environ.get("REGISTRY_AUTH_FILE"):
        files.append(Path(environ["REGISTRY_AUTH_FILE"]))
    if environ.get("XDG_RUNTIME_DIR"):
        files.append(Path(environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    config_home = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    files.append(config_home / "containers" / "auth.json")
    docker = Path(environ["DOCKER_CONFIG"]) if environ.get("DOCKER_CONFIG") else home / ".docker"
    files.append(docker / "config.json")
    return files


def find_credentials(
    registry: str, repository: str, *, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """The credentials for ``registry`` (and ``repository`` in it), or ``None`` (anonymous).

    Raises:
        RegistryAuthError: a half-set pair of variables, an unreadable auth file, or a
            credential helper that failed.
    """
    env = os.environ if environ is None else environ
    from_env = _from_environment(env)
    if from_env is not None:
        return from_env
    for path in auth_files(env):
        config = _read_auth_file(path)
        if config is not None:
            found = _from_config(config, path, registry, repository, env)
            if found is not None:
                return found
    return None


def _from_environment(env: Mapping[str, str]) -> Credentials | None:
    if env.get(TOKEN_VAR):
        return Credentials(source=f"${TOKEN_VAR}", registry_token=env[TOKEN_VAR])
    username, password = env.get(USERNAME_VAR), env.get(PASSWORD_VAR)
    if username and password:
        return Credentials(
            source=f"${USERNAME_VAR} and ${PASSWORD_VAR}", username=username, password=password
        )
    if username or password:
        given, missing = (USERNAME_VAR, PASSWORD_VAR) if username else (PASSWORD_VAR, USERNAME_VAR)
        raise RegistryAuthError(
            f"${given} is set but ${missing} is not",
            hint=f"set both (${PASSWORD_VAR} may hold an access token), or unset ${given}",
        )
    return None


def _read_auth_file(path: Path) -> Mapping[str, Any] | None:
    """An auth file's JSON (``None`` when there is no such file)."""
    try:
        data = bounded_json.read_file(
            path,
            where=f"registry auth file {path}",
            max_bytes=_MAX_AUTH_FILE,
            error=RegistryAuthError,
            hint="fix or remove the file; `docker login` / `podman login` write it",
        )
    except FileNotFoundError:
        return None
    if not isinstance(data, Mapping):
        raise RegistryAuthError(f"registry auth file {path}: expected a JSON object")
    return data


def normalize_key(key: str) -> str:
    """An ``auths``/``credHelpers`` key as ``host[/path]``: no scheme, no ``/v1/``, no slash."""
    if key == _DOCKER_HUB_KEY:
        return "docker.io"
    host = key.split("://", 1)[-1].rstrip("/")
    for suffix in ("/v1", "/v2"):
        host = host.removesuffix(suffix)
    first, _, rest = host.partition("/")
    first = first.lower()
    if first in _DOCKER_HUB:
        first = "docker.io"
    return f"{first}/{rest}" if rest else first


def _from_config(
    config: Mapping[str, Any], path: Path, registry: str, repository: str, env: Mapping[str, str]
) -> Credentials | None:
    host = normalize_key(registry)
    helpers = config.get("credHelpers")
    if isinstance(helpers, Mapping):
        for key, helper in helpers.items():
            if isinstance(helper, str) and helper and normalize_key(key) == host:
                return _from_helper(helper, registry, env, f"{path} (credHelpers)")
    auths = config.get("auths")
    if isinstance(auths, Mapping):
        entry = _best_auths_entry(auths, f"{host}/{repository}")
        if entry is not None:
            key, value = entry
            found = _from_auths_entry(value, f"{path} (auths[{key!r}])")
            if found is not None:
                return found
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        return _from_helper(store, registry, env, f"{path} (credsStore)")
    return None


def _best_auths_entry(auths: Mapping[str, Any], wanted: str) -> tuple[str, Any] | None:
    """The entry whose key is the host, or the longest ``host/namespace`` prefix of ``wanted``."""
    best: tuple[int, str, Any] | None = None
    for key, value in auths.items():
        norm = normalize_key(str(key))
        matches = wanted == norm or wanted.startswith(norm + "/")
        if matches and (best is None or len(norm) > best[0]):
            best = (len(norm), str(key), value)
    return (best[1], best[2]) if best is not None else None


def _from_auths_entry(value: Any, source: str) -> Credentials | None:
    """Credentials from one ``auths`` entry (``None`` when it is empty, as with a credsStore)."""
    if not isinstance(value, Mapping):
        return None
    if isinstance(value.get("identitytoken"), str) and value["identitytoken"]:
        return Credentials(source=source, identity_token=value["identitytoken"])
    encoded = value.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            username, sep, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise RegistryAuthError(
                f"{source}: 'auth' is not base64 of 'user:password' ({exc})",
                hint="log in again with `docker login` or `podman login`",
            ) from exc
        if not sep:
            raise RegistryAuthError(f"{source}: 'auth' holds no ':' between user and password")
        return Credentials(source=source, username=username, password=password)
    user, secret = value.get("username"), value.get("password")
    if isinstance(user, str) and isinstance(secret, str) and user:
        return Credentials(source=source, username=user, password=secret)
    return None


def helper_server_urls(registry: str) -> Iterator[str]:
    """The server names to ask a credential helper for: the host, then its ``https://`` URL."""
    if normalize_key(registry) == "docker.io":
        yield _DOCKER_HUB_KEY
        return
    yield registry
    yield f"https://{registry}"


def _from_helper(
    name: str, registry: str, env: Mapping[str, str], source: str
) -> Credentials | None:
    """Ask ``docker-credential-<name>`` for the registry's credentials (``None``: it has none)."""
    from envstacks.floor import proc  # noqa: PLC0415 - only when a helper is configured

    program = f"docker-credential-{name}"
    for server in helper_server_urls(registry):
        try:
            result = proc.run(
                [program, "get"],
                input=server,
                env=dict(env),
                check=False,
                what=f"ask the credential helper {program} for {registry}",
                error=RegistryAuthError,
                timeout=60,
            )
        except EnvStacksError as exc:
            raise RegistryAuthError(
                f"{source}: credential helper {program} cannot be run ({exc.message})",
                hint=f"install {program} on PATH, or remove it from the auth file",
            ) from exc
        if result.returncode != 0:
            if "not found" in (result.stdout + result.stderr).lower():
                continue  # the helper's way of saying "no credentials for this server"
            said = _shown(result.stderr.strip() or result.stdout.strip())
            raise RegistryAuthError(
                f"{source}: credential helper {program} failed for {server} "
                f"(exit status {result.returncode}): {said}",
                hint=f"run `echo {server} | {program} get` to see why",
            )
        return _parse_helper_answer(result.stdout, f"{source}: {program}")
    return None


def _shown(said: str) -> str:
    """What a failed helper said, for a message: its first line, unless it may hold a secret.

    A helper that fails after printing its answer (a JSON object) would show the secret, so
    anything with braces is left out, as is all but the first 200 characters.
    """
    if "{" in said or "Secret" in said:
        return "(its output is not shown: it may hold a secret)"
    first = said.splitlines()[0] if said else "(no output)"
    return first if len(first) <= 200 else first[:200] + "..."


def _parse_helper_answer(text: str, source: str) -> Credentials:
    """The credentials in a helper's answer (never shown in an error: it may hold a secret)."""
    try:
        answer = bounded_json.loads(text, where=source, max_bytes=_MAX_AUTH_FILE)
    except JSONDocumentError:
        answer = None
    username = answer.get("Username") if isinstance(answer, dict) else None
    secret = answer.get("Secret") if isinstance(answer, dict) else None
    if not isinstance(username, str) or not isinstance(secret, str):
        raise RegistryAuthError(
            f"{source}: its answer ({len(text)} characters, not shown: it may hold a secret) "
            "is not a JSON object with the strings Username and Secret",
            hint="run the helper by hand (`echo <server> | docker-credential-<name> get`) "
            "to see what it answers",
        )
    if username == _TOKEN_USER:
        return Credentials(source=source, identity_token=secret)
    return Credentials(source=source, username=username, password=secret)
