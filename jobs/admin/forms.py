"""Forms of the admin's change pages."""

from django import forms

from ..jobmeta import MetadataError, clean_tags
from ..models import ApiKey, Job


class TagListField(forms.CharField):
    """Tags edited one per line: a tag may hold commas and spaces (the API
    takes any text), so no other separator keeps every tag whole. Lines are
    kept as typed, only empty ones dropped, so a save that does not touch the
    tags leaves them exactly as they were."""

    widget = forms.Textarea(attrs={"rows": 4})

    def __init__(self, **kwargs):
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(value)
        return value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        text = super().to_python(value)
        if "\x00" in text:
            raise forms.ValidationError("Null characters are not allowed.")
        tags = [line for line in text.splitlines() if line.strip()]
        try:
            return clean_tags(tags)
        except MetadataError as exc:
            raise forms.ValidationError(exc.message) from None


class JobForm(forms.ModelForm):
    tags = TagListField(required=False, help_text="One tag per line.")

    class Meta:
        model = Job
        # The admin's fieldsets choose what shows; read-only fields are never written.
        fields = "__all__"  # noqa: DJ007


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "user", "projects", "read_only"]
