"""Quality: the reviewed great-expectations suites and checking a file's rows with them
(findings in the sender's words). Works on DataFrames; knows no lake and no warehouse."""
