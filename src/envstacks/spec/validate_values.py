"""Check single layer values: requirements, platforms, libc and macOS targets, implementation."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement

from envstacks.platforms import IMPLEMENTATIONS, TARGET_PLATFORMS
from envstacks.spec.validate_fields import (
    TomlPath,
    did_you_mean,
    expect_str,
    expect_str_list,
    quoted_list,
    spec_error,
)

_PY_VERSION = re.compile(r"3\.\d+(\.\d+)?((a|b|rc)\d+)?")
_LINUX_VERSION = re.compile(r"\d+\.\d+")
_MACOS_VERSION = re.compile(r"\d+(\.\d+)?")
#: macOS target when neither the spec nor ``MACOSX_DEPLOYMENT_TARGET`` gives one.
DEFAULT_MACOSX = "13.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class Implementation:
    """A parsed ``python_implementation``: ``"cpython@3.12.1"``."""

    text: str
    #: ``"cpython"`` or ``"pypy"``.
    name: str
    #: ``"3.12.1"`` or ``"3.12"``.
    version: str


def requirements(value: object, where: TomlPath, label: str, *, fix: str) -> tuple[str, ...]:
    """PEP 508 requirements, normalised (``"numpy >= 2"`` becomes ``"numpy>=2"``)."""
    items = expect_str_list(value, where, fix=fix, owner=label)
    return tuple(_requirement(item, where.item(i), label) for i, item in enumerate(items))


def _requirement(text: str, where: TomlPath, label: str) -> str:
    try:
        return str(Requirement(text))
    except InvalidRequirement as error:
        # packaging explains on the first line and draws a caret under the spot on the last.
        explanation, *rest = str(error).splitlines()
        column = rest[-1].find("^") - 3 if rest and "^" in rest[-1] else 0
        at = f" at column {column}" if column > 0 else ""
        raise spec_error(
            where,
            f"{label} uses invalid requirement syntax ({text!r}): {explanation}{at}",
            'write a PEP 508 requirement such as "numpy>=2,<3" or "torch; sys_platform == '
            "'linux'\"",
        ) from None


def platforms(value: object, where: TomlPath, label: str) -> tuple[str, ...]:
    """Target platform names, known and without repeats, in spec order."""
    expected = sorted(TARGET_PLATFORMS)
    fix = f"use platform names among {quoted_list(expected)}, or [] to disable the layer"
    result: list[str] = []
    for i, item in enumerate(expect_str_list(value, where, fix=fix, owner=label)):
        if item not in TARGET_PLATFORMS:
            raise spec_error(
                where.item(i),
                f"{label} specifies an invalid target platform ({item!r} given, expected "
                f"{expected}){did_you_mean(item, expected)}",
                fix,
            )
        if item not in result:
            result.append(item)
    return tuple(result)


def linux_target(value: object, where: TomlPath, label: str) -> str:
    """``"glibc"`` or ``"glibc@X.Y"``, as written."""
    fix = 'write "glibc" (glibc 2.28) or "glibc@X.Y", such as "glibc@2.34"'
    text = expect_str(value, where, fix=fix, allow_empty=True, owner=label)
    variant, at, version = text.partition("@")
    if variant != "glibc":
        raise spec_error(
            where, f"Linux libc variant of {label} must be one of ['glibc'], not {variant!r}", fix
        )
    if at and not _LINUX_VERSION.fullmatch(version):
        raise spec_error(
            where, f"Linux libc version of {label} must be of the form 'X.Y', not {version!r}", fix
        )
    return text


def macosx_target(value: object, where: TomlPath, label: str) -> str:
    """``"X"`` or ``"X.Y"``; when absent, ``MACOSX_DEPLOYMENT_TARGET`` or ``"13.0"``."""
    fix = 'write "X" or "X.Y", such as "13.0"'
    if value is None:
        # venvstacks' default: the caller's deployment target, so the wheels chosen match what
        # the local toolchain would build.
        env = os.environ.get("MACOSX_DEPLOYMENT_TARGET", "").strip()
        if not env:
            return DEFAULT_MACOSX
        if not _MACOS_VERSION.fullmatch(env):
            raise spec_error(
                where,
                f"{label} has no macosx_target, and the default from the environment variable "
                f"MACOSX_DEPLOYMENT_TARGET is not a macOS version ({env!r})",
                f"set macosx_target explicitly or fix the variable ({fix})",
            )
        return env
    text = expect_str(value, where, fix=fix, owner=label)
    if not _MACOS_VERSION.fullmatch(text):
        raise spec_error(where, f"macosx_target of {label} is not a macOS version ({text!r})", fix)
    return text


def implementation(value: object, where: TomlPath, label: str) -> Implementation:
    """A ``"<implementation>@<version>"`` request for a known implementation and Python 3."""
    fix = 'write "<implementation>@<version>", such as "cpython@3.12" or "cpython@3.12.1"'
    text = expect_str(value, where, fix=fix, owner=label)
    impl, at, version = text.partition("@")
    if not at:
        raise spec_error(where, f"python_implementation of {label} has no '@' ({text!r})", fix)
    name = impl.strip().lower()
    if name not in IMPLEMENTATIONS:
        raise spec_error(
            where,
            f"unknown Python implementation {impl!r} for {label} ({text!r})"
            f"{did_you_mean(name, IMPLEMENTATIONS)}",
            f'use one of {quoted_list(IMPLEMENTATIONS)}, such as "cpython@3.12"',
        )
    if not _PY_VERSION.fullmatch(version.strip()):
        raise spec_error(
            where,
            f"malformed Python version {version!r} in python_implementation of {label} ({text!r})",
            'give a Python 3 version as "3.Y" (the newest 3.Y found) or "3.Y.Z"',
        )
    return Implementation(text=text, name=name, version=version.strip())
