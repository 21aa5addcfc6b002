"""The `<id:…>` path converter of every route with a numeric id."""

from django.urls import register_converter


class AnyIntConverter:
    """Digits of any length: out-of-range ids answer 404 in the view, not 500."""

    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(AnyIntConverter, "id")
