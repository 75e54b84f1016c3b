"""One module per dashboard page: its address, title, introduction and charts.

A page holds no callbacks of its own: the shared filters drive every chart through the one
callback in ``portal.dashboards.app``, and ``portal.dashboards.layout`` draws any page.
"""

from __future__ import annotations

from types import ModuleType

from portal.dashboards.pages import agencies, agreements, flags, industries, overview, regions, suppliers

#: The pages in the order the dashboards' navigation lists them.
PAGES: tuple[ModuleType, ...] = (overview, agencies, suppliers, industries, regions, agreements, flags)

#: Each page by its path under /dashboards/ ("" is the overview).
BY_PATH = {page.PATH: page for page in PAGES}
