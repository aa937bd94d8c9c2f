"""Display helpers for audit results."""

from django import template

register = template.Library()


@register.filter
def observed(value) -> str:
    """An observed value as a reader wants it: floats to six significant digits.

    The stored value keeps full precision (reports and the JSON export use it); only the page
    rounds, so 0.7994232306200033 reads as 0.799423.
    """
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
