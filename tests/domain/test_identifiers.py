import pytest

from domain.identifiers import (
    credit_check_char,
    credit_code_problem,
    parcel_code,
    project_code_problem,
    unit_number_problem,
)


def test_design_example_credit_code_passes():
    assert credit_code_problem("91350200776049653A") is None
    assert credit_check_char("91350200776049653") == "A"


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("91350200776049653B", "check character"),
        ("9135020077604965", "18 characters"),
        ("91350200776049653I", "alphabet"),
        ("91ABCDEF776049653A", "division"),
    ],
)
def test_bad_credit_codes_name_the_rule(code, fragment):
    assert fragment in (credit_code_problem(code) or "")


def test_project_code_shape_and_division():
    assert project_code_problem("2023-430472-47-03-012345") is None
    assert "shaped" in (project_code_problem("2023-430472-47-03-01234") or "")
    assert "Hunan" in (project_code_problem("2023-110105-47-03-012345") or "")
    assert "shaped" in (project_code_problem("2023-430472-47-03-012345'; DROP TABLE x;--") or "")


def test_unit_number_and_parcel_code():
    unit = "430408001002GB00001F00010001"
    assert unit_number_problem(unit) is None
    assert parcel_code(unit) == "430408001002GB00001"
    assert unit_number_problem(unit[:-1]) is not None
    assert unit_number_problem(unit.replace("GB", "XB")) is not None
