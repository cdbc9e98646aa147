"""Kernels: the warm pool (pool), kernels forked from a template (forking,
kernel_template), one notebook executed on one kernel (execute), the file tracker
and the output caps that run inside each kernel (tracking, limits).
"""
