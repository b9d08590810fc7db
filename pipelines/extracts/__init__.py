"""Extracts: researchers' packages from the published warehouse, with disclosure control."""
