"""Masking rules: exact outputs, short and empty values, Chinese names."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime
from pathlib import Path

import pytest

from yiwang.core.keys import key_ring
from yiwang.core.masking import PRESETS, mask, mask_field
from yiwang.core.settings import Settings


class TestLast4:
    def test_keeps_last_four_and_the_length(self) -> None:
        assert mask("310101199003071230", "last4") == "**************1230"
        assert mask("13812345678", "last4") == "*******5678"

    def test_short_values_are_all_starred(self) -> None:
        assert mask("12345", "last4") == "*2345"
        assert mask("1234", "last4") == "****"
        assert mask("12", "last4") == "**"

    def test_empty_and_none(self) -> None:
        assert mask("", "last4") == ""
        assert mask(None, "last4") is None


class TestFirstLast:
    def test_chinese_names(self) -> None:
        assert mask("张三明", "first_last") == "张*明"
        assert mask("欧阳娜娜", "first_last") == "欧**娜"
        assert mask("张三", "first_last") == "张*"
        assert mask("张", "first_last") == "*"

    def test_digits(self) -> None:
        assert mask("123458", "first_last") == "1****8"

    def test_empty_and_none(self) -> None:
        assert mask("", "first_last") == ""
        assert mask(None, "first_last") is None


class TestHash:
    def test_unkeyed_is_sha256_prefix(self) -> None:
        assert mask("13812345678", "hash") == hashlib.sha256(b"13812345678").hexdigest()[:12]

    def test_keyed_with_settings_is_hmac_of_blind_index_key(self, tmp_path: Path) -> None:
        settings = Settings(env="test", var_dir=tmp_path)
        key = key_ring(settings).blind_index_key()
        expected = hmac.new(key, b"mask\x0013812345678", hashlib.sha256).hexdigest()[:12]
        assert mask("13812345678", "hash", settings=settings) == expected
        assert expected != mask("13812345678", "hash")

    def test_stable_and_distinct(self) -> None:
        assert mask("张三", "hash") == mask("张三", "hash")
        assert mask("张三", "hash") != mask("张四", "hash")
        assert len(mask("张三", "hash") or "") == 12


class TestRedact:
    @pytest.mark.parametrize("value", ["上海市黄浦区南京东路1号", "x", "", None])
    def test_always_three_stars(self, value: str | None) -> None:
        assert mask(value, "redact") == "***"


class TestYearOnly:
    @pytest.mark.parametrize(("value", "expected"), [
        (date(1985, 3, 7), "1985"),
        (datetime(1985, 3, 7, 12, 0), "1985"),
        ("1985-03-07", "1985"),
        ("19850307", "1985"),
        ("1985年3月7日", "1985"),
        ("1985", "1985"),
        ("31010119850307123X", "1985"),
        ("not a date", "***"),
        ("", ""),
    ])
    def test_keeps_only_the_year(self, value: object, expected: str) -> None:
        assert mask(value, "year_only") == expected

    def test_none(self) -> None:
        assert mask(None, "year_only") is None


class TestRulesAndPresets:
    def test_none_rule_passes_through(self) -> None:
        assert mask("91350100M000100Y43", "none") == "91350100M000100Y43"

    def test_unknown_rule_raises(self) -> None:
        with pytest.raises(ValueError):
            mask("x", "scramble")

    def test_presets_of_the_registry(self) -> None:
        assert mask_field("person.name", "李小龙") == "李*龙"
        assert mask_field("person.id_number", "11010519491231002X") == "**************002X"
        assert mask_field("person.phone", "13812345678") == "*******5678"
        assert mask_field("person.address", "上海市黄浦区南京东路1号") == "***"
        assert PRESETS["entity.uscc"] == "none"
