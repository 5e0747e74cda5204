"""SM2 key derivation with gmssl (the national signature algorithm, GB/T 32918)."""

from __future__ import annotations

import secrets

from gmssl import sm2

_N = int(sm2.default_ecc_table["n"], 16)


def sm2_new_private() -> str:
    """A new SM2 private key, 64 hex digits, d in [1, n-2], from the operating system's CSPRNG
    (gmssl's own ``random_hex`` uses Python's ``random``, which must never make keys or nonces)."""
    return "%064x" % (secrets.randbelow(_N - 2) + 1)


def sm2_sign(private_hex: str, public_hex: str, data: bytes) -> bytes:
    """The SM2 signature (r‖s, 64 bytes) of ``data`` with SM3 and the standard user id, with a
    nonce k in [1, n-1] from the CSPRNG (a repeated or predictable k gives the private key away)."""
    signer = _crypt(private_hex, public_hex)
    while True:
        signature = signer.sign_with_sm3(data, "%064x" % (secrets.randbelow(_N - 1) + 1))
        if signature:  # gmssl answers None for the rare k that gives r = 0, r + k = n or s = 0
            return bytes.fromhex(signature)


def sm2_verify(public_hex: str, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` (r‖s, 64 bytes) is the SM2 signature of ``data`` under the public point."""
    return bool(_crypt("", public_hex).verify_with_sm3(signature.hex(), data))


def _crypt(private_hex: str, public_hex: str) -> sm2.CryptSM2:
    """gmssl's signer with the public point set as given: its constructor drops a leading "04" with
    ``str.lstrip("04")``, which also eats the point's own leading 0 and 4 digits (1 key in 256 starts
    with "04") and leaves an odd-length key that cannot sign or verify."""
    crypt = sm2.CryptSM2(private_key=private_hex, public_key="")
    crypt.public_key = public_hex
    return crypt


def sm2_public_from_private(private_hex: str) -> str:
    """The uncompressed public point (x‖y, 128 hex digits) of an SM2 private key."""
    curve = sm2.default_ecc_table
    helper = sm2.CryptSM2(private_key=private_hex, public_key="")
    return helper._kg(int(private_hex, 16), curve["g"])
