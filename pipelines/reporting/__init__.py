"""Reporting: the annual overview (年次概要) from the published warehouse."""
