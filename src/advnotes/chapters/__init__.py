"""The chapters' pipelines: the loops and tables of each notebook, moved out of its cells.

One module per chapter (``advnotes.chapters.ch1`` ... ``ch6``), the top layer of the package:
each may import any other module of advnotes, and nothing imports it but its chapter, its
tests and the benchmarks. Every function's docstring names the chapter section and the
equation it computes.
"""
