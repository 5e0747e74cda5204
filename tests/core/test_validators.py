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


class TestBankCard:
    def test_accepts_luhn_valid_numbers_of_13_to_19_digits(self) -> None:
        from yiwang.core.validators import is_valid_bank_card

        assert is_valid_bank_card("6222021234567890128")  # 19 digits, UnionPay
        assert is_valid_bank_card("4111111111111111")
        assert is_valid_bank_card("4111 1111 1111 1111")
        assert is_valid_bank_card("4222222222222")  # 13 digits

    @pytest.mark.parametrize("bad", ["4111111111111112", "411111111111", "41111111111111111113", "4111-1111-1111-111A",
                                     "", "４１１１１１１１１１１１１１１１"])
    def test_refuses(self, bad: str) -> None:
        from yiwang.core.validators import is_valid_bank_card

        assert not is_valid_bank_card(bad)

    def test_luhn(self) -> None:
        from yiwang.core.validators import luhn_ok

        assert luhn_ok("79927398713")
        assert not luhn_ok("79927398710")


class TestEmail:
    @pytest.mark.parametrize("good", ["zhang.san@example.com", "a+b@mail.example.com.cn", "x_1@sub-domain.gov.cn"])
    def test_accepts(self, good: str) -> None:
        from yiwang.core.validators import is_valid_email

        assert is_valid_email(good)

    @pytest.mark.parametrize("bad", ["zhang", "a@b", "a@b.c1", "a..b@example.com", ".a@example.com", "a@-x.com",
                                     "张三@example.com", "a@example.com.", "a" * 65 + "@example.com", ""])
    def test_refuses(self, bad: str) -> None:
        from yiwang.core.validators import is_valid_email

        assert not is_valid_email(bad)


class TestFindIdentifiers:
    ID = "110101199003071233"  # valid check digit
    USCC = "91310000MA1FL0000N"

    def test_finds_each_kind_inside_text(self) -> None:
        from yiwang.core.validators import find_identifiers

        text = (f"联系人身份证{self.ID}，电话13812345678或+86 139-1234-5678，代码{self.USCC}，"
                "卡号6222 0212 3456 7890 128，邮箱zhang.san@example.com。")
        found = [(kind, text[s:e]) for kind, s, e in find_identifiers(text)]
        assert found == [("resident_id", self.ID), ("mobile", "13812345678"), ("mobile", "+86 139-1234-5678"),
                         ("uscc", self.USCC), ("bank_card", "6222 0212 3456 7890 128"),
                         ("email", "zhang.san@example.com")]

    def test_invalid_check_characters_are_not_found(self) -> None:
        from yiwang.core.validators import find_identifiers

        assert find_identifiers("110101199003071234 91310000MA1FL0000A 6222021234567890120") == []

    def test_numbers_inside_longer_digit_runs_are_not_found(self) -> None:
        from yiwang.core.validators import find_identifiers

        assert find_identifiers("订单20240307" + self.ID + "99") == []
        assert find_identifiers("1381234567890") == []

    def test_a_card_needs_an_issuer_prefix_outside_a_card_column(self) -> None:
        from yiwang.core.validators import find_identifiers, luhn_ok

        code = next(f"310101002001000{d}" for d in "0123456789" if luhn_ok(f"310101002001000{d}"))
        assert find_identifiers(code) == []
        assert find_identifiers(code, card_column=True) == [("bank_card", 0, 16)]

    def test_an_id_ending_in_x(self) -> None:
        from yiwang.core.validators import find_identifiers

        assert find_identifiers("证件11010519491231002x。") == [("resident_id", 2, 20)]
