"""Call detail records as Chime writes them (the administration guide's example, schema 2.0), for tests.

The builder lives in the sandbox, whose phone system writes the same records for the calls it places;
unit tests build single records with it here."""

from sandbox.phone_system import call_record as cdr
from sandbox.phone_system import call_record_key as cdr_key

__all__ = ["cdr", "cdr_key"]
