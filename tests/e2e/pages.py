"""Reading the HTML report in tests."""

from __future__ import annotations


def without_library(page: str) -> str:
    """The page without the Vega library it inlines. The library's text is checked to be exactly
    vl-convert's (no data can be in it), so that its words ("Brown", a colour) are not read as names."""
    from spine.charts import vega_javascript

    start = page.index('<script id="vega-library">') + len('<script id="vega-library">')
    end = page.index("</script>", start)
    assert page[start:end] == vega_javascript()
    return page[:start] + page[end:]
