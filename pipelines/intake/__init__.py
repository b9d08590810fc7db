"""Intake: taking files in — which landed files are new, receiving them, reading and checking
them (the one way, for intake, `welfare validate`, the page, repair and `rebuild-lake`),
recording them in the lake, repairing and rebuilding the lake from the archive."""
