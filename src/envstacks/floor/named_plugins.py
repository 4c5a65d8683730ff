"""Named plugin objects of one kind, collected from a pluggy hook and chosen by name.

Where the user picks one of several implementations by name (``runtime-provider``,
``archive-format``), each plugin's hook returns objects that carry a ``name``; a
:class:`Registry` collects every answer, finds an entry by name with a "did you mean" error,
and lists entries in an explicit order (``auto``). Built-in and third-party plugins answer
the same hook; pluggy asks plugins registered later first, and the built-ins are registered
first and marked ``trylast``, so a third-party entry replaces a built-in of the same name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import pluggy

from envstacks.floor.errors import EnvStacksError

__all__ = ["OTHERS", "Named", "Registry"]

#: In an order given to :meth:`Registry.ordered`: every entry the order does not name.
OTHERS = "*"


class Named(Protocol):
    """What a registry holds: an object that says its own name."""

    @property
    def name(self) -> str:
        """The name users choose it by (``"local"``, ``"tar.zst"``)."""
        ...


T = TypeVar("T", bound=Named)


@dataclass(frozen=True, slots=True, kw_only=True)
class Registry(Generic[T]):
    """The entries of one kind by name, in precedence order (the first answer for a name wins)."""

    #: What the entries are, for messages (``"runtime provider"``, ``"archive format"``).
    kind: str
    entries: Mapping[str, T]
    #: Names that stand for a choice among entries (``auto``); valid, listed first as known.
    aliases: tuple[str, ...] = ()

    @classmethod
    def collect(
        cls,
        answers: Iterable[Sequence[T]],
        *,
        kind: str,
        hook: str,
        error: type[EnvStacksError],
        aliases: tuple[str, ...] = (),
    ) -> Registry[T]:
        """Gather the answers of ``hook`` (one sequence per plugin, in pluggy's call order).

        Raises:
            error: an answer holds something without a string ``name``, or a plugin took
                one of the ``aliases`` as a name.
        """
        entries: dict[str, T] = {}
        for answer in answers:
            for entry in answer:
                name = getattr(entry, "name", None)
                if not isinstance(name, str) or not name or name in aliases or name == OTHERS:
                    raise error(
                        f"a plugin's {hook}() returned {entry!r}, which has no usable name "
                        f"(got {name!r}; a {kind} needs a non-empty string other than "
                        f"{', '.join(repr(alias) for alias in (*aliases, OTHERS))})",
                        hint="fix or uninstall the plugin (ENVSTACKS_DISABLE_PLUGINS blocks it)",
                    )
                entries.setdefault(name, entry)
        return cls(kind=kind, entries=entries, aliases=aliases)

    @classmethod
    def from_hook(
        cls,
        pm: pluggy.PluginManager,
        hook: str,
        *,
        kind: str,
        error: type[EnvStacksError],
        aliases: tuple[str, ...] = (),
    ) -> Registry[T]:
        """Call ``hook`` (it takes no arguments) and :meth:`collect` every plugin's answer."""
        answers: list[Sequence[T]] = getattr(pm.hook, hook)()
        return cls.collect(answers, kind=kind, hook=hook, error=error, aliases=aliases)

    def names(self) -> tuple[str, ...]:
        """Every valid name: the aliases, then the entries' names sorted."""
        return (*self.aliases, *sorted(self.entries))

    def find(self, name: str) -> T | None:
        """The entry called ``name``, or None."""
        return self.entries.get(name)

    def get(self, name: str, *, where: str, error: type[EnvStacksError]) -> T:
        """The entry called ``name``.

        Args:
            name: the name the user wrote.
            where: what named it, for the message (``tool.venvstacks.archive-format``).
            error: the exception class to raise (the caller's stage decides).

        Raises:
            error: no entry has that name; the message lists the known names and the
                closest one.
        """
        entry = self.entries.get(name)
        if entry is not None:
            return entry
        known = self.names()
        close = difflib.get_close_matches(name, known, n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
        raise error(
            f"{where}: unknown {self.kind} {name!r}{suggestion} "
            f"(known: {', '.join(repr(known_name) for known_name in known)})",
            hint=f"use one of the known {self.kind}s, or install the plugin that provides {name!r}",
        )

    def ordered(self, order: Sequence[str]) -> tuple[T, ...]:
        """The entries in ``order``; :data:`OTHERS` there stands for every entry not named.

        Names without an entry are skipped; the entries behind :data:`OTHERS` keep the
        registry's order.
        """
        named = set(order)
        result: list[T] = []
        for name in order:
            if name == OTHERS:
                result += [entry for key, entry in self.entries.items() if key not in named]
            elif name in self.entries:
                result.append(self.entries[name])
        return tuple(result)
