"""The error types the library raises for bad input: each message names the input and what to change."""

from __future__ import annotations


class CLIPstylerError(ValueError):
    """Bad input or an unusable model file; the message says which and what to do."""


class SettingError(CLIPstylerError):
    """A problem with one or more StyleSettings fields. The message names them as `{field}` placeholders, so a
    front end can name its own controls instead (the command line says --crops where the field is num_crops)."""

    def __init__(self, template: str, fields: tuple[str, ...]) -> None:
        self.template, self.fields = template, fields
        super().__init__(self.describe())

    @classmethod
    def about(cls, field: str, problem: str) -> SettingError:
        """An error about one field: '<field> <problem>'."""
        return cls("{" + field + "} " + problem.replace("{", "{{").replace("}", "}}"), (field,))

    def describe(self, names: dict[str, str] | None = None) -> str:
        """The message with each field called names[field] (default: the field's own name)."""
        names = names or {}
        return self.template.format(**{field: names.get(field, field) for field in self.fields})


class WeightsUnavailable(CLIPstylerError):
    """Pretrained weights that are neither on disk nor downloadable (offline, blocked, wrong cache folder).

    Attributes:
        model: "clip" or "vgg", so a front end can say where its own copy of the file goes.
        what: the weights, e.g. "CLIP ViT-B-32/openai" or "VGG-19 (torchvision)".
        file_name: the file a user can put in place instead, e.g. "ViT-B-32.pt".
        url: where to get that file.
        cause: one line on why they could not be had.
    """

    def __init__(self, model: str, what: str, file_name: str, url: str, cause: str) -> None:
        super().__init__(f"could not load or download the {what} weights ({cause}); get {file_name} from {url}")
        self.model, self.what, self.file_name, self.url, self.cause = model, what, file_name, url, cause
