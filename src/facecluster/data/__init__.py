"""Dataset acquisition and listing: personal folders, LFW, MUCT; downloads and the mirror.

The faces stage calls :func:`facecluster.data.catalog.collect_dataset`; the modules are
imported on use (this package imports nothing, so a stage depends only on what it uses).
"""
