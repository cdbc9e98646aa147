"""One build, driven from here: the pipeline, the order notebooks run in (order),
what the next build would do (plan), and running notebooks on a Dask cluster (cluster).
"""
