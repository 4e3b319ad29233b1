"""The one exception a bad config produces: which file, which key, what is wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem found in a config: a dotted key path (``accounts[0].api_key``) and why."""

    key: str
    problem: str

    def __str__(self) -> str:
        return f"{self.key}: {self.problem}" if self.key else self.problem


class ConfigError(Exception):
    """A config that cannot be used; ``str()`` is ``"{file}: {key}: {problem}"``.

    ``key`` is empty when the problem is the file as a whole (missing, not TOML);
    the message is then ``"{file}: {problem}"``. ``issues`` holds every problem
    found, the first of which is the one described by ``key`` and ``problem``.
    Messages never contain secret values: they name where a secret comes from.
    """

    def __init__(
        self, file: str, key: str, problem: str, *, issues: tuple[ConfigIssue, ...] = ()
    ) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        self.issues = issues or (ConfigIssue(key, problem),)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.key:
            return f"{self.file}: {self.key}: {self.problem}"
        return f"{self.file}: {self.problem}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only ``issues`` would be lost by the default exception pickling.
        return (_rebuild, (self.file, self.key, self.problem, self.issues))


def _rebuild(file: str, key: str, problem: str, issues: tuple[ConfigIssue, ...]) -> ConfigError:
    return ConfigError(file, key, problem, issues=issues)
