"""Validators: resident ID numbers (GB 11643), USCC (GB 32100), mainland mobiles."""

from __future__ import annotations

from datetime import date

import pytest

from yiwang.core.errors import ValidationFailed
from yiwang.core.validators import (
    InvalidMobile,
    InvalidResidentId,
    InvalidUscc,
    birth_date_from_id,
    gender_from_id,
    is_valid_mobile,
    is_valid_resident_id,
    is_valid_uscc,
    resident_id_check_char,
    uscc_check_char,
    validate_mobile,
    validate_resident_id,
    validate_uscc,
)


class TestResidentIdCheckChar:
    def test_computes_x(self) -> None:
        # The standard's own example: 11010519491231002X.
        assert resident_id_check_char("11010519491231002") == "X"

    def test_computes_digits(self) -> None:
        assert resident_id_check_char("44052418800101001") == "4"
        assert resident_id_check_char("31010119900307123") == "0"

    def test_refuses_non_digits(self) -> None:
        with pytest.raises(InvalidResidentId):
            resident_id_check_char("3101011990030712A")


class TestValidateResidentId:
    def test_accepts_valid_numbers(self) -> None:
        assert validate_resident_id("11010519491231002X") == "11010519491231002X"
        assert validate_resident_id("440524188001010014") == "440524188001010014"
        assert validate_resident_id("310101199003071230") == "310101199003071230"

    def test_normalises_lower_case_x_and_spaces(self) -> None:
        assert validate_resident_id(" 11010519491231002x ") == "11010519491231002X"

    @pytest.mark.parametrize("bad", [
        "110105194912310021",   # wrong check digit (X expected)
        "310101199003071231",   # wrong check digit (0 expected)
        "31010119900307123",    # 17 characters
        "3101011990030712300",  # 19 characters
        "31010119900307123A",   # check char not a digit or X
        "31010119900230123X",   # 30 February
        "",
        "３１０１０１１９９００３０７１２３０",  # full-width digits
    ])
    def test_refuses(self, bad: str) -> None:
        assert not is_valid_resident_id(bad)
        with pytest.raises(InvalidResidentId):
            validate_resident_id(bad)

    def test_refuses_a_future_birth_date(self) -> None:
        first17 = "31010120300101123"
        number = first17 + resident_id_check_char(first17)
        with pytest.raises(InvalidResidentId):
            validate_resident_id(number, today=date(2025, 1, 1))
        assert validate_resident_id(number, today=date(2031, 1, 1)) == number

    def test_error_is_a_validation_error_with_its_own_code(self) -> None:
        with pytest.raises(ValidationFailed) as info:
            validate_resident_id("110105194912310021")
        assert info.value.code == "invalid_resident_id"
        assert info.value.status == 422
        assert info.value.render("en") == "This is not a valid resident ID number."
        assert info.value.render("zh_Hans_CN") == "身份证号码无效。"


class TestBirthDateAndGender:
    def test_reads_birth_date(self) -> None:
        assert birth_date_from_id("11010519491231002X") == date(1949, 12, 31)

    def test_reads_gender_from_sequence_parity(self) -> None:
        assert gender_from_id("11010519491231002X") == "F"   # 002: even
        assert gender_from_id("440524188001010014") == "M"   # 001: odd

    def test_birth_date_refuses_invalid_numbers(self) -> None:
        with pytest.raises(InvalidResidentId):
            birth_date_from_id("110105194912310021")


class TestUscc:
    def test_computes_check_char(self) -> None:
        assert uscc_check_char("91350100M000100Y4") == "3"
        assert uscc_check_char("91110000600037341") == "L"

    def test_check_zero_when_sum_divisible(self) -> None:
        # (31 - 0) mod 31 = 0: the check character is "0", not the out-of-range 31.
        assert uscc_check_char("00000000000000000") == "0"

    def test_accepts_valid_and_normalises_case(self) -> None:
        assert validate_uscc("91350100M000100Y43") == "91350100M000100Y43"
        assert validate_uscc(" 91110000600037341l ") == "91110000600037341L"

    @pytest.mark.parametrize("bad", [
        "91350100M000100Y44",   # wrong check character
        "91110000600037341K",   # wrong check character
        "91350100M000100Y4",    # 17 characters
        "91350100I000100Y43",   # I is not in the alphabet
        "91350100O000100Y43",   # O is not in the alphabet
        "913501A0M000100Y43",   # area code not digits
        "",
    ])
    def test_refuses(self, bad: str) -> None:
        assert not is_valid_uscc(bad)
        with pytest.raises(InvalidUscc):
            validate_uscc(bad)

    def test_error_code_and_translation(self) -> None:
        with pytest.raises(InvalidUscc) as info:
            validate_uscc("91350100M000100Y44")
        assert info.value.code == "invalid_uscc"
        assert info.value.render("zh_Hans_CN") == "统一社会信用代码无效。"


class TestMobile:
    @pytest.mark.parametrize(("given", "expected"), [
        ("13812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("86-138-1234-5678", "13812345678"),
        ("008613812345678", "13812345678"),
        ("19912345678", "19912345678"),
    ])
    def test_accepts_and_normalises(self, given: str, expected: str) -> None:
        assert validate_mobile(given) == expected

    @pytest.mark.parametrize("bad", [
        "12812345678",     # second digit 2
        "1381234567",      # 10 digits
        "138123456789",    # 12 digits
        "+1 138 1234 5678",
        "021-12345678",    # a landline
        "1381234567a",
        "",
    ])
    def test_refuses(self, bad: str) -> None:
        assert not is_valid_mobile(bad)
        with pytest.raises(InvalidMobile):
            validate_mobile(bad)

    def test_error_code_and_translation(self) -> None:
        with pytest.raises(InvalidMobile) as info:
            validate_mobile("12812345678")
        assert info.value.code == "invalid_mobile"
        assert info.value.render("zh_Hans_CN") == "手机号码无效。"
