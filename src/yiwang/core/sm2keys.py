"""SM2 key derivation with gmssl (the national signature algorithm, GB/T 32918)."""

from __future__ import annotations

from gmssl import sm2


def sm2_public_from_private(private_hex: str) -> str:
    """The uncompressed public point (x‖y, 128 hex digits) of an SM2 private key."""
    curve = sm2.default_ecc_table
    helper = sm2.CryptSM2(private_key=private_hex, public_key="")
    return helper._kg(int(private_hex, 16), curve["g"])
