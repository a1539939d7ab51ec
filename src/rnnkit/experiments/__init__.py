"""Studies that run many recipes: the memory benchmarks and remedies (``memory``), several
seeds of one recipe (``seeds``), and the docs tables made from result files."""
