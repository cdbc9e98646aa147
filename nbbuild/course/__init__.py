"""What the course is: its notebooks and files (discover), each source read and
validated (sources), editions and languages (editions), and the globs of settings.
"""
