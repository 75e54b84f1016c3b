"""Dashboards for journalists: spending by agency, supplier, category, region and time.

``portal.dashboards.queries`` holds the aggregates as pure functions of a connection (tested
on SQLite and PostgreSQL); the Dash pages that draw them build on these.
"""
