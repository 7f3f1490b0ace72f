import pytest

from demo_sample import text


def test_words_and_shout():
    assert text.words(" a  b ") == ["a", "b"]
    assert text.shout("hi") == "HI!"
    with pytest.raises(ValueError):
        text.shout("")


def test_initials():
    assert text.initials("ada lovelace") == "AL"
    assert text.initials("") == ""


def test_truncate_and_count():
    assert text.truncate("abcdef", 4) == "abc…"
    assert text.truncate("ab", 4) == "ab"
    with pytest.raises(ValueError):
        text.truncate("ab", 0)
    assert text.count("Banana", "a") == 3
