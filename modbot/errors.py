"""Named errors. Each one says what went wrong and, where it can, where and how to fix it."""

from __future__ import annotations


class ModbotError(Exception):
    """Base of every error modbot raises on purpose."""


class ConfigError(ModbotError):
    """A YAML file (config, rules, patterns) is invalid: carries file, line, column and a hint."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 column: int | None = None, hint: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        text = where + self.message
        if self.hint:
            text += f" (fix: {self.hint})"
        return text


class RuleError(ConfigError):
    """The rules file is invalid."""


class InvalidComment(ModbotError):
    """A message from the stream is not a valid comment; it is dead-lettered with this reason."""


class ScorerError(ModbotError):
    """A scorer failed on a batch; the rules' scorer-failure policy decides what happens."""


class DeliveryError(ModbotError):
    """A decision could not be delivered to the platform."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        self.retryable = retryable
        super().__init__(message)
