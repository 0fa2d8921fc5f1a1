import math

import pytest

from common import jsonsafe


@pytest.mark.parametrize("text", [
    '{"box": [NaN, 0.1]}', '{"score": Infinity}', '[-Infinity]', '{"t": 1e999}',
    '{"t": -1e400}', "[" * 5000 + "]" * 5000, '{"a": 1', b'\xff\xfe{}',
])
def test_what_is_not_strict_json_with_finite_numbers_is_one_value_error(text):
    with pytest.raises(ValueError):
        jsonsafe.loads(text)


def test_strict_json_parses_as_usual():
    assert jsonsafe.loads(b'{"a": [1, 2.5, -3e2, null, "x"]}') == {"a": [1, 2.5, -300.0, None,
                                                                        "x"]}


def test_dumps_never_writes_invalid_json():
    text = jsonsafe.dumps({"box": [math.nan, 0.5], "s": math.inf, "deep": [{"x": -math.inf}]})
    assert text == '{"box": [null, 0.5], "s": null, "deep": [{"x": null}]}'
    assert jsonsafe.loads(text)
