"""Foundation: what every layer above uses and which knows nothing of surveys — where a
home keeps its files (settings), writing a file atomically, hashing, the clock, recognising a
full disk, notifications, pause points for fault tests."""
