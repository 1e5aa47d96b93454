"""French message templates as files (Jinja2, unknown variables fail), with per-office overrides.

Files are ``<template>.sms.j2`` (SMS text) and ``<template>.subject.j2``, ``<template>.txt.j2``,
``<template>.html.j2`` (e-mail). An office overrides any of them by a file of the same name in
``<templates_dir>/<office id>/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape

from shared.events import Channel

DEFAULT_DIR = Path(__file__).resolve().parent / "templates"


class TemplateProblem(ValueError):
    """A template that is missing or uses a variable the message does not provide."""


@dataclass(frozen=True)
class Rendered:
    """A built message: ``text`` is the SMS or the plain-text e-mail body."""

    text: str
    subject: str | None = None
    html: str | None = None


class Templates:
    """Renders messages; the environment of each office is built once."""

    def __init__(self, override_dir: Path | None = None, default_dir: Path = DEFAULT_DIR) -> None:
        self.override_dir = override_dir
        self.default_dir = default_dir
        self._envs: dict[str, Environment] = {}

    def _env(self, office: str) -> Environment:
        env = self._envs.get(office)
        if env is None:
            paths = [str(self.default_dir)]
            if self.override_dir is not None and (self.override_dir / office).is_dir():
                paths.insert(0, str(self.override_dir / office))
            env = Environment(
                loader=FileSystemLoader(paths),
                undefined=StrictUndefined,
                autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
                keep_trailing_newline=False,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            self._envs[office] = env
        return env

    def render(self, office: str, template: str, channel: Channel, context: dict[str, Any]) -> Rendered:
        """Build the whole message now: a missing variable raises ``TemplateProblem``."""
        env = self._env(office)
        try:
            if channel is Channel.SMS:
                text = env.get_template(f"{template}.sms.j2").render(context)
                return Rendered(text=" ".join(text.split()))
            subject = env.get_template(f"{template}.subject.j2").render(context)
            body = env.get_template(f"{template}.txt.j2").render(context)
            html = env.get_template(f"{template}.html.j2").render(context)
        except TemplateError as exc:
            raise TemplateProblem(f"template {template} ({channel.value}): {exc.message}") from None
        return Rendered(text=body.strip() + "\n", subject=" ".join(subject.split()), html=html)

    def has(self, office: str, template: str, channel: Channel) -> bool:
        name = f"{template}.sms.j2" if channel is Channel.SMS else f"{template}.subject.j2"
        return name in self._env(office).list_templates()
