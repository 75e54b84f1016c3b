from ocds.errors import InputError, OCDSError, OCDSWarning, Problem, ValidationFailed


def test_problem_str():
    assert str(Problem("contracts/0/items/2/quantity", "must be positive")) == (
        "contracts/0/items/2/quantity: must be positive"
    )
    assert str(Problem("", "not OCDS")) == "not OCDS"


def test_errors_carry_problems():
    problems = [Problem("a", "x"), Problem("b", "y")]
    for cls in (InputError, ValidationFailed):
        error = cls(problems)
        assert isinstance(error, OCDSError)
        assert error.problems == problems
        assert str(error) == "a: x; b: y"
    assert issubclass(OCDSWarning, UserWarning)
