"""What nbbuild remembers between builds: the SQLite database (database), the
decisions it drives, stale or fresh and why (decisions), and the build lock (lock).
"""
