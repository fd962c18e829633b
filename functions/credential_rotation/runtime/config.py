"""The functions' configuration, read from the environment once per container."""

from functools import cache
from os import environ

from credential_rotation.domain.settings import Settings


@cache
def get_settings() -> Settings:
    return Settings.model_validate(dict(environ))
