"""Watch mode: the loop that rebuilds what an edit touches (loop) and the live
preview server (server).
"""
