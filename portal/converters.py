"""The path converter of every number in a URL (``<id:pk>``, also an image's index or a revision's
number): digits whose value fits PostgreSQL's bigint, the type of every row id.

Django's ``int`` converter takes any run of digits, so a number past the database's range reached a query
and failed there (a ``DataError``, or SQLite's ``OverflowError``): a 500. No row has such an id, so the
URL matches nothing and the answer is a 404.
"""

BIGINT_MAX = 2**63 - 1
"""The largest value of PostgreSQL's ``bigint`` (and of SQLite's integer): no row id is larger."""


class IdConverter:
    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > BIGINT_MAX:
            raise ValueError(f"{value} is past the largest id")  # Django: no match, so a 404
        return number

    def to_url(self, value: int) -> str:
        return str(value)
