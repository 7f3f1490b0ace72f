"""Plain-Python text helpers (fully tested)."""


def words(text):
    return [w for w in text.split() if w]


def shout(text):
    if not text:
        raise ValueError("nothing to shout")
    return text.upper() + "!"


def initials(name):
    parts = words(name)
    if not parts:
        return ""
    return "".join(p[0].upper() for p in parts)


def truncate(text, width):
    if width < 1:
        raise ValueError("width must be positive")
    if len(text) <= width:
        return text
    return text[: width - 1] + "…"


def count(text, letter):
    total = 0
    for char in text.lower():
        if char == letter:
            total += 1
    return total
