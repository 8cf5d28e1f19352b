"""Encryption at rest: a master key wraps one data key per person.

Erasing a person later means destroying their wrapped key, which makes any copy of their rows
(backups, free pages not yet overwritten) unreadable. AES-GCM with a fresh 96-bit nonce per value;
the associated data binds each ciphertext to its row, so values cannot be swapped between rows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
_CHECK_PLAINTEXT = b"coreflect key check v1"


class KeyProblem(Exception):
    """The master key is missing, malformed or does not open this database."""


def load_or_create_master_key(data_dir: Path, env_value: str | None, may_create: bool) -> bytes:
    """Return the master key from COREFLECT_KEY or the key file; create the file only if allowed."""
    if env_value:
        try:
            key = base64.b64decode(env_value.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KeyProblem("COREFLECT_KEY is not valid base64.") from exc
        if len(key) != KEY_BYTES:
            raise KeyProblem(f"COREFLECT_KEY must decode to {KEY_BYTES} bytes, not {len(key)}.")
        return key
    path = data_dir / "master.key"
    if path.exists():
        check_key_file_mode(path)
        raw = path.read_bytes().strip()
        try:
            key = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KeyProblem(f"The key file {path} is not valid base64.") from exc
        if len(key) != KEY_BYTES:
            raise KeyProblem(f"The key file {path} must hold {KEY_BYTES} bytes, not {len(key)}.")
        return key
    if not may_create:
        raise KeyProblem(
            f"The database in {data_dir} holds data but no key was found "
            f"({path} is missing and COREFLECT_KEY is not set). Restore the key; "
            "a new key will not be made over existing data."
        )
    key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64encode(key) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


def check_key_file_mode(path: Path) -> None:
    """Refuse a key file other users could read (or change): it opens everyone's journal."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyProblem(
            f"The key file {path} can be read or changed by other users (mode {mode:04o}). "
            f"Make it private to the user CoReflect runs as: chmod 600 {path}"
        )


class Cipher:
    """AES-GCM with one key; `seal`/`open` put the nonce in front of the ciphertext."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise KeyProblem("A value could not be decrypted with this key.") from exc


class Keyring:
    """The master cipher plus a cache of people's unwrapped data-key ciphers."""

    def __init__(self, master_key: bytes) -> None:
        self.master = Cipher(master_key)
        self._people: dict[int, Cipher] = {}
        # For keyed hashes of ids in the logs: stable across restarts, useless without the key.
        self.log_key = hmac.new(master_key, b"coreflect log ids v1", hashlib.sha256).digest()

    def key_check(self) -> bytes:
        return self.master.seal(_CHECK_PLAINTEXT, b"key-check")

    def verify(self, check: bytes) -> bool:
        try:
            return self.master.open(check, b"key-check") == _CHECK_PLAINTEXT
        except KeyProblem:
            return False

    def new_wrapped_key(self, person_id: int) -> bytes:
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        self._people[person_id] = Cipher(data_key)
        return self.master.seal(data_key, b"person:%d" % person_id)

    def person(self, person_id: int, wrapped: bytes) -> Cipher:
        cipher = self._people.get(person_id)
        if cipher is None:
            cipher = Cipher(self.master.open(wrapped, b"person:%d" % person_id))
            if len(self._people) > 50_000:
                self._people.clear()
            self._people[person_id] = cipher
        return cipher

    def forget(self, person_id: int) -> None:
        self._people.pop(person_id, None)
