"""Forms of the admin's change pages."""

from django import forms

from ..jobmeta import MetadataError, clean_tags
from ..models import ApiKey, Job


class TagListField(forms.CharField):
    """Tags edited as comma-separated text."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        text = super().to_python(value)
        tags = [tag.strip() for tag in text.split(",") if tag.strip()]
        try:
            return clean_tags(tags)
        except MetadataError as exc:
            raise forms.ValidationError(exc.message) from None


class JobForm(forms.ModelForm):
    tags = TagListField(required=False, help_text="Comma-separated.")

    class Meta:
        model = Job
        # The admin's fieldsets choose what shows; read-only fields are never written.
        fields = "__all__"  # noqa: DJ007


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "user", "projects", "read_only"]
