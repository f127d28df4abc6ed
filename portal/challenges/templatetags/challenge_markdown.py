"""The ``markdown`` template filter: an organizer's Markdown (a challenge's description and rules, an
announcement) as safe HTML.

Raw HTML in the text is shown as text (markdown-it's ``html`` option off), and the rendered HTML then goes
through nh3's allow-list of tags, attributes and link schemes (http, https, mailto): no script, no event
attribute, no ``javascript:`` link survives either step.
"""

import nh3
from django import template
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

register = template.Library()

_RENDERER = MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")
_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol",
    "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "td": {"style"}, "th": {"style"}}


def markdown_html(text: str) -> str:
    """The HTML of ``text`` read as CommonMark (with tables and strikethrough), cleaned by the allow-list."""
    return nh3.clean(
        _RENDERER.render(text),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
        filter_style_properties={"text-align"},
    )


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Render an organizer's Markdown as HTML that is safe to put in a page."""
    return mark_safe(markdown_html(text))  # cleaned by nh3's allow-list above
